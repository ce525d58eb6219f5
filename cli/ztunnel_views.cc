#include "cli/ztunnel_views.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <ctime>
#include <map>
#include <memory>

namespace ambit::cli {

using json = nlohmann::json;

namespace {

std::string str(const json& obj, const char* key, const std::string& fallback = "") {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : fallback;
}

std::string joined(const json& obj, const char* key) {
  std::string out;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_array()) return out;
  for (const auto& v : *it) {
    if (!v.is_string()) continue;
    out += (out.empty() ? "" : ",") + v.get<std::string>();
  }
  return out;
}

const json& section(const json& dump, const char* key) {
  static const json kEmpty = json::array();
  auto it = dump.find(key);
  return it != dump.end() && it->is_array() ? *it : kEmpty;
}

bool inNamespace(const json& obj, const ZtunnelFilter& f) {
  return f.namespace_name.empty() || str(obj, "namespace") == f.namespace_name;
}

// "<namespace>/<gateway>" -> "<gateway>", as istioctl names the waypoint; "None" when unbound.
std::string waypointName(const json& obj) {
  std::string w = str(obj, "waypoint");
  if (w.empty()) return "None";
  auto slash = w.find('/');
  return slash == std::string::npos ? w : w.substr(slash + 1);
}

}  // namespace

ZtunnelView workloadsView(const json& dump, const ZtunnelFilter& filter) {
  ZtunnelView v{.table =
                    Table({"NAMESPACE", "POD NAME", "ADDRESS", "NODE", "WAYPOINT", "PROTOCOL"})};
  for (const auto& w : section(dump, "workloads")) {
    if (!inNamespace(w, filter)) continue;
    if (!filter.workload_node.empty() && str(w, "node") != filter.workload_node) continue;
    v.items.push_back(w);
    v.table.addRow({str(w, "namespace"), str(w, "name"), joined(w, "addresses"), str(w, "node"),
                    waypointName(w), w.value("enrolled", false) ? "HBONE" : "TCP"});
  }
  return v;
}

ZtunnelView servicesView(const json& dump, const ZtunnelFilter& filter) {
  std::map<std::string, bool> known;
  for (const auto& w : section(dump, "workloads")) known[str(w, "uid")] = true;
  ZtunnelView v{.table =
                    Table({"NAMESPACE", "SERVICE NAME", "SERVICE VIP", "WAYPOINT", "ENDPOINTS"})};
  for (const auto& s : section(dump, "services")) {
    if (!inNamespace(s, filter)) continue;
    size_t total = 0, present = 0;
    if (auto it = s.find("endpoints"); it != s.end() && it->is_array()) {
      for (const auto& e : *it) {
        ++total;
        if (e.is_string() && known.count(e.get<std::string>())) ++present;
      }
    }
    v.items.push_back(s);
    v.table.addRow({str(s, "namespace"), str(s, "name"), joined(s, "vips"), waypointName(s),
                    fmt::format("{}/{}", present, total)});
  }
  return v;
}

ZtunnelView policiesView(const json& dump, const ZtunnelFilter& filter) {
  // proto3 JSON leaves out default enum values: ALLOW and WORKLOAD_SELECTOR.
  static const std::map<std::string, std::string> kActions = {
      {"ALLOW", "Allow"}, {"DENY", "Deny"}, {"AUDIT", "Audit"}, {"CUSTOM", "Custom"}};
  static const std::map<std::string, std::string> kScopes = {
      {"WORKLOAD_SELECTOR", "WorkloadSelector"}, {"NAMESPACE", "Namespace"}, {"GLOBAL", "Global"}};
  ZtunnelView v{.table = Table({"NAMESPACE", "POLICY NAME", "ACTION", "SCOPE"})};
  auto add = [&](const json& p) {
    if (!inNamespace(p, filter)) return;
    std::string action = str(p, "action", "ALLOW"), scope = str(p, "scope", "WORKLOAD_SELECTOR");
    auto a = kActions.find(action);
    auto s = kScopes.find(scope);
    v.items.push_back(p);
    v.table.addRow({str(p, "namespace"), str(p, "name"), a == kActions.end() ? action : a->second,
                    s == kScopes.end() ? scope : s->second});
  };
  for (const auto& p : section(dump, "policies")) add(p);
  return v;
}

namespace {

struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

std::string asn1Time(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return "";
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string serialHex(X509* x) {
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr), BN_free);
  if (!bn) return "";
  char* hex = BN_bn2hex(bn.get());
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// The PEM blocks of `key`: one string, or a list of strings (the ztunnel's dump).
std::string pemText(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  std::string out;
  if (it->is_array()) {
    for (const auto& p : *it) {
      if (p.is_string()) out += p.get<std::string>() + "\n";
    }
  }
  return out;
}

Result<std::vector<std::unique_ptr<X509, X509Free>>> parsePem(const std::string& pem) {
  std::vector<std::unique_ptr<X509, X509Free>> out;
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return makeError("out of memory");
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the read that ended the loop left "no start line" queued
  if (out.empty() && pem.find("-----BEGIN") != std::string::npos) {
    return makeError("PEM does not parse as X.509 certificates");
  }
  return out;
}

}  // namespace

Result<ZtunnelView> certificatesView(const json& dump, std::chrono::system_clock::time_point now) {
  ZtunnelView v{.table = Table({"CERTIFICATE NAME", "TYPE", "STATUS", "VALID CERT", "SERIAL NUMBER",
                                "NOT AFTER", "NOT BEFORE"})};
  std::time_t now_t = std::chrono::system_clock::to_time_t(now);
  for (const auto& c : section(dump, "certificates")) {
    std::string name = str(c, "identity"), state = str(c, "state", "Unknown");
    json item{{"identity", name}, {"state", state}, {"cert_chain", json::array()}};
    if (state != "Available") {
      v.table.addRow({name, "Leaf", state, "false"});
      v.items.push_back(item);
      continue;
    }
    auto chain = parsePem(pemText(c, "cert_chain"));
    auto roots = parsePem(pemText(c, "root_certs"));
    if (!chain) return chain.error().context("certificate chain of " + name);
    if (!roots) return roots.error().context("root certificates of " + name);
    auto row = [&](X509* x, const std::string& type) {
      bool valid = X509_cmp_time(X509_get0_notBefore(x), &now_t) < 0 &&
                   X509_cmp_time(X509_get0_notAfter(x), &now_t) > 0;
      json cert{{"type", type},
                {"serial_number", serialHex(x)},
                {"valid_from", asn1Time(X509_get0_notBefore(x))},
                {"expiration_time", asn1Time(X509_get0_notAfter(x))},
                {"valid", valid}};
      v.table.addRow({name, type, state, valid ? "true" : "false", cert["serial_number"],
                      cert["expiration_time"], cert["valid_from"]});
      item["cert_chain"].push_back(cert);
    };
    for (size_t i = 0; i < chain->size(); ++i) {
      row((*chain)[i].get(), i == 0 ? "Leaf" : "Intermediate");
    }
    for (const auto& r : *roots) row(r.get(), "Root");
    v.items.push_back(item);
  }
  return v;
}

namespace {

// IP -> "<pod>.<namespace>" for addresses the dump knows as workloads.
std::map<std::string, std::string> workloadNames(const json& dump) {
  std::map<std::string, std::string> names;
  for (const auto& w : section(dump, "workloads")) {
    for (const auto& a : w.value("addresses", json::array())) {
      if (a.is_string()) names[a.get<std::string>()] = str(w, "name") + "." + str(w, "namespace");
    }
  }
  return names;
}

// "ip:port" / "[v6]:port" / "ip" -> {ip, ":port" or ""}.
std::pair<std::string, std::string> splitAddress(const std::string& a) {
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close != std::string::npos) return {a.substr(1, close - 1), a.substr(close + 1)};
  }
  auto colon = a.rfind(':');
  if (colon != std::string::npos && a.find(':') == colon) {
    return {a.substr(0, colon), a.substr(colon)};
  }
  return {a, ""};
}

bool isLoopback(const std::string& ip) { return ip.rfind("127.", 0) == 0 || ip == "::1"; }

std::string named(const std::map<std::string, std::string>& names, const std::string& addr) {
  auto [ip, port] = splitAddress(addr);
  auto it = names.find(ip);
  return it == names.end() ? addr : it->second + port;
}

}  // namespace

ZtunnelView connectionsView(const json& dump, const ZtunnelFilter& filter) {
  const auto names = workloadNames(dump);
  std::map<std::string, std::string> pods, vips;  // uid -> name.ns; VIP -> hostname
  std::map<std::string, std::string> pod_ns;
  for (const auto& w : section(dump, "workloads")) {
    pods[str(w, "uid")] = str(w, "name") + "." + str(w, "namespace");
    pod_ns[str(w, "uid")] = str(w, "namespace");
  }
  for (const auto& s : section(dump, "services")) {
    for (const auto& vip : s.value("vips", json::array())) {
      if (vip.is_string()) vips[vip.get<std::string>()] = str(s, "hostname");
    }
  }
  ZtunnelView v{
      .table = Table({"WORKLOAD", "DIRECTION", "LOCAL", "REMOTE", "REMOTE TARGET", "PROTOCOL"})};
  for (const auto& c : section(dump, "connections")) {
    std::string uid = str(c, "workload_uid");
    if (!filter.namespace_name.empty() && pod_ns[uid] != filter.namespace_name) continue;
    bool inbound = str(c, "direction") == "inbound";
    std::string remote = str(c, "remote");
    std::string target;
    if (!inbound) {
      auto vip = vips.find(splitAddress(remote).first);
      target = vip != vips.end() ? vip->second : named(names, str(c, "via"));
    }
    const std::string workload = pods.count(uid) ? pods[uid] : uid;
    // Captured outbound connections reach the ztunnel over the pod's loopback: the app's end
    // is the workload itself.
    auto [local_ip, local_port] = splitAddress(str(c, "local"));
    std::string local =
        !inbound && isLoopback(local_ip) ? workload + local_port : named(names, str(c, "local"));
    v.items.push_back(c);
    v.table.addRow({workload, inbound ? "Inbound" : "Outbound", local, named(names, remote), target,
                    str(c, "protocol")});
  }
  return v;
}

Result<std::string> renderAll(const json& dump, const ZtunnelFilter& filter, OutputFormat format,
                              std::chrono::system_clock::time_point now) {
  auto certs = certificatesView(dump, now);
  AMBIT_TRY(certs);
  std::vector<std::pair<const char*, ZtunnelView>> views;
  views.emplace_back("workloads", workloadsView(dump, filter));
  views.emplace_back("services", servicesView(dump, filter));
  views.emplace_back("policies", policiesView(dump, filter));
  views.emplace_back("certificates", std::move(*certs));
  views.emplace_back("connections", connectionsView(dump, filter));
  if (format == OutputFormat::kShort) {
    std::string out;
    for (const auto& [name, view] : views) out += (out.empty() ? "" : "\n") + view.table.render();
    return out;
  }
  json all = json::object();
  for (const auto& [name, view] : views) all[name] = view.items;
  return format == OutputFormat::kJson ? renderJson(all) : renderYaml(all);
}

}  // namespace ambit::cli
