// The ztunnel's operational endpoints: 15020 /metrics, 15021 /healthz/ready, and on localhost
// 15000 /config_dump, /logging and /quitquitquit.
#include <arpa/inet.h>
#include <google/protobuf/util/json_util.h>
#include <openssl/x509.h>

#include <nlohmann/json.hpp>

#include "common/admin/metrics.h"
#include "common/log.h"
#include "ztunnel/data_thread.h"
#include "ztunnel/ztunnel_impl.h"

namespace ambit::ztunnel {

namespace {

nlohmann::json protoJson(const google::protobuf::Message& m) {
  std::string s;
  (void)google::protobuf::util::MessageToJsonString(m, &s);
  return nlohmann::json::parse(s, nullptr, false);
}

std::string isoTime(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&tt));
  return buf;
}

std::string formatIp(const rbac::IpAddress& ip) {
  char buf[INET6_ADDRSTRLEN] = "";
  if (ip.family == rbac::IpAddress::Family::kV4) {
    ::inet_ntop(AF_INET, ip.bytes.data(), buf, sizeof(buf));
  } else if (ip.family == rbac::IpAddress::Family::kV6) {
    ::inet_ntop(AF_INET6, ip.bytes.data(), buf, sizeof(buf));
  }
  return buf;
}

// Connections open now: inbound (to this node's pods, policy-checked) and outbound (from them).
nlohmann::json liveConnections(const ConnectionTracker& tracker, const OutboundProxy& outbound) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, c] : tracker.open()) {
    std::string local = formatIp(c.destination_ip);
    if (c.destination_ip.family == rbac::IpAddress::Family::kV6) local = "[" + local + "]";
    out.push_back({{"direction", "inbound"},
                   {"workload_uid", c.pod_uid},
                   {"local", local + ":" + std::to_string(c.destination_port)},
                   {"remote", formatIp(c.source_ip)},
                   {"remote_identity", c.source_principal},
                   {"protocol", c.source_principal.empty() ? "TCP" : "HBONE"}});
  }
  for (const auto& c : outbound.connections()) {
    out.push_back({{"direction", "outbound"},
                   {"workload_uid", c.pod_uid},
                   {"local", c.local},
                   {"remote", c.remote},
                   {"via", c.via},
                   {"protocol", c.protocol}});
  }
  return out;
}

}  // namespace

std::string Ztunnel::Impl::configDump() {
  auto dump = runOnDataThread(io, [this]() -> Result<std::string> {
    nlohmann::json j;
    j["node"] = options.node;
    j["draining"] = connections->draining();
    nlohmann::json pods_json = nlohmann::json::array();
    for (const auto& [uid, pod] : pods->pods()) {
      nlohmann::json p = protoJson(pod->info);
      p["identity"] = pod->spiffe_id;
      pods_json.push_back(p);
    }
    j["pods"] = pods_json;
    if (auto config = active_config.current()) {
      const auto& s = config->state->snapshot();
      j["config_version"] = s.version();
      for (const auto& w : s.workloads()) j["workloads"].push_back(protoJson(w));
      for (const auto& v : s.services()) j["services"].push_back(protoJson(v));
      for (const auto& p : s.authorization_policies()) j["policies"].push_back(protoJson(p));
      for (const auto& p : s.peer_authentications())
        j["peer_authentications"].push_back(protoJson(p));
    }
    nlohmann::json certs = nlohmann::json::array();
    for (const auto& [id, cert] : identities->certificates()) {
      nlohmann::json c{{"identity", id}, {"state", cert ? "Available" : "Initializing"}};
      if (cert) {
        c["valid_from"] = isoTime(cert->notBefore);
        c["expiration_time"] = isoTime(cert->notAfter);
        c["cert_chain"] = cert->pem.chainPem;
        c["root_certs"] = cert->pem.rootsPem;
      }
      certs.push_back(c);
    }
    j["certificates"] = certs;
    j["certificate_rotations"] = identities->rotations();
    auto ps = pool->stats();
    j["hbone_pool"] = {{"connections", ps.connections},
                       {"opened", ps.connections_opened},
                       {"active_streams", ps.active_streams}};
    j["tracked_connections"] = tracker.size();
    j["outbound_active"] = outbound->active();
    j["connections"] = liveConnections(tracker, *outbound);
    return j.dump(2);
  });
  return dump ? *dump : nlohmann::json{{"error", dump.error().message}}.dump();
}

void Ztunnel::Impl::refreshHealth() {
  health->handoffConnected(handoff && handoff->synced() ? 1 : 0);
  if (discovery_status) {
    auto v = discovery_status->get();
    health->xdsState(v.connected, v.terminations);
  }
}

Status Ztunnel::Impl::registerAdmin() {
  admin_server = std::make_unique<admin::AdminServer>(admin_io);
  metrics_server = std::make_unique<admin::AdminServer>(admin_io);
  ready_server = std::make_unique<admin::AdminServer>(admin_io);
  metrics_server->route("/metrics", admin::metricsHandler(registry, [this] { refreshHealth(); }));
  ready_server->route("/healthz/ready", admin::readinessHandler([this] {
                        return handoff && handoff->synced() && active_config.loaded() &&
                               !stopping.load();
                      }));
  admin_server->route("/config_dump", admin::jsonHandler([this] { return configDump(); }));
  admin_server->route("/metrics", admin::metricsHandler(registry, [this] { refreshHealth(); }));
  admin_server->route("/logging", [](const admin::Request& r) {
    auto eq = r.query.find("level=");
    if (eq == std::string::npos) {
      return admin::Response{
          200, "text/plain",
          fmt::format("level: {}\n", spdlog::level::to_string_view(spdlog::get_level()))};
    }
    std::string level = r.query.substr(eq + 6);
    auto lvl = spdlog::level::from_str(level);
    if (lvl == spdlog::level::off && level != "off") {
      return admin::Response{400, "text/plain", "unknown level '" + level + "'\n"};
    }
    spdlog::set_level(lvl);
    return admin::Response{200, "text/plain", "level: " + level + "\n"};
  });
  admin_server->route("/quitquitquit", [this](const admin::Request& r) {
    if (r.method != "POST") return admin::Response{405, "text/plain", "use POST\n"};
    boost::asio::post(io, [this] { beginDrain(); });
    return admin::Response{200, "text/plain", "draining\n"};
  });
  // A successor started beside this ztunnel (a surge rollout on the host network) binds the
  // same ports; this one then stops listening on them, so probes and scrapes reach the new one.
  AMBIT_TRY(admin_server->listenYieldingToSuccessor(options.admin_address, options.admin_port));
  AMBIT_TRY(metrics_server->listenYieldingToSuccessor(options.stats_address, options.metrics_port));
  AMBIT_TRY(ready_server->listenYieldingToSuccessor(options.stats_address, options.readiness_port));
  return Status::ok();
}

}  // namespace ambit::ztunnel
