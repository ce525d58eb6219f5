#include "common/kube/rest_config.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/kube/base64.h"

namespace ambit::kube {
namespace {

Result<std::string> readFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return errnoError(fmt::format("read {}", path.string()));
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The entry of `list` (a kubeconfig "clusters"/"users"/"contexts" sequence) named `name`.
Result<YAML::Node> namedEntry(const YAML::Node& root, const char* list, const std::string& name,
                              const char* inner) {
  const YAML::Node seq = root[list];
  if (!seq || !seq.IsSequence()) return makeError("no '{}' list", list);
  for (const auto& item : seq) {
    if (item.IsMap() && item["name"] && item["name"].as<std::string>("") == name) {
      YAML::Node body = item[inner];
      if (!body || !body.IsMap()) return makeError("{} '{}' has no '{}' map", list, name, inner);
      return body;
    }
  }
  return makeError("{} '{}' not found", list, name);
}

std::string str(const YAML::Node& n, const char* key) {
  const YAML::Node v = n[key];
  return v && v.IsScalar() ? v.as<std::string>() : std::string();
}

// Reads `<key>-data` (base64) or `<key>` (a path relative to `dir`) into `out` (PEM text).
Status pemField(const YAML::Node& n, const std::string& key, const std::filesystem::path& dir,
                std::string& out) {
  if (auto data = str(n, (key + "-data").c_str()); !data.empty()) {
    auto decoded = base64Decode(data);
    if (!decoded) return decoded.error().context(key + "-data");
    out = std::move(*decoded);
    return Status::ok();
  }
  if (auto file = str(n, key.c_str()); !file.empty()) {
    std::filesystem::path p(file);
    if (p.is_relative()) p = dir / p;
    auto text = readFile(p);
    if (!text) return text.error().context(key);
    out = std::move(*text);
  }
  return Status::ok();
}

}  // namespace

Result<RestConfig> parseServerUrl(std::string_view url) {
  RestConfig c;
  std::string_view rest = url;
  if (!rest.starts_with("https://"))
    return makeError("server '{}': only https:// API servers are supported", url);
  rest.remove_prefix(8);
  rest = rest.substr(0, rest.find('/'));
  std::string_view port = "443";
  if (rest.starts_with("[")) {
    size_t close = rest.find(']');
    if (close == std::string_view::npos)
      return makeError("server '{}': unterminated IPv6 address", url);
    c.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') return makeError("server '{}': bad port", url);
      port = after.substr(1);
    }
  } else {
    size_t colon = rest.rfind(':');
    c.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) port = rest.substr(colon + 1);
  }
  if (c.host.empty()) return makeError("server '{}': no host", url);
  unsigned n = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  if (ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535)
    return makeError("server '{}': bad port '{}'", url, port);
  c.port = std::to_string(n);
  return c;
}

Result<RestConfig> loadKubeconfig(const std::filesystem::path& path, const std::string& context) {
  auto fail = [&](const Error& e) {
    return e.context(fmt::format("kubeconfig {}", path.string()));
  };
  YAML::Node root;
  try {
    root = YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    return fail(makeError("{}", e.what()));
  }
  if (!root.IsMap()) return fail(makeError("not a kubeconfig (top level is not a map)"));
  std::string ctx_name = context.empty() ? str(root, "current-context") : context;
  if (ctx_name.empty()) return fail(makeError("no current-context and no --context given"));
  auto ctx = namedEntry(root, "contexts", ctx_name, "context");
  if (!ctx) return fail(ctx.error());
  auto cluster = namedEntry(root, "clusters", str(*ctx, "cluster"), "cluster");
  if (!cluster) return fail(cluster.error().context(fmt::format("context '{}'", ctx_name)));
  auto server = parseServerUrl(str(*cluster, "server"));
  if (!server) return fail(server.error());
  RestConfig c = std::move(*server);
  const auto dir = path.parent_path();
  if (auto st = pemField(*cluster, "certificate-authority", dir, c.ca_pem); !st)
    return fail(st.error());
  if (std::string user = str(*ctx, "user"); !user.empty()) {
    auto u = namedEntry(root, "users", user, "user");
    if (!u) return fail(u.error());
    if (auto st = pemField(*u, "client-certificate", dir, c.client_cert_pem); !st)
      return fail(st.error());
    if (auto st = pemField(*u, "client-key", dir, c.client_key_pem); !st) return fail(st.error());
    if (c.client_cert_pem.empty() != c.client_key_pem.empty())
      return fail(makeError("user '{}': client-certificate and client-key go together", user));
    c.token = str(*u, "token");
    if (auto tf = str(*u, "tokenFile"); !tf.empty()) {
      c.token_file = tf;
      if (c.token_file.is_relative()) c.token_file = dir / c.token_file;
    }
  }
  c.source = fmt::format("kubeconfig {} context {}", path.string(), ctx_name);
  return c;
}

Result<RestConfig> inClusterConfig(const std::filesystem::path& sa_dir) {
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (!host || !*host || !port || !*port)
    return makeError(
        "not in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set (use --kubeconfig)");
  std::string h(host);
  auto c = parseServerUrl(
      fmt::format("https://{}:{}", h.find(':') != std::string::npos ? "[" + h + "]" : h, port));
  if (!c) return c.error().context("in-cluster config");
  c->token_file = sa_dir / "token";
  c->ca_file = sa_dir / "ca.crt";
  for (const auto& f : {c->token_file, c->ca_file}) {
    if (!std::filesystem::exists(f))
      return makeError(
          "in-cluster config: {} does not exist (is the service-account token mounted?)",
          f.string());
  }
  c->source = "in-cluster";
  return c;
}

Credentials::Credentials(RestConfig config, std::chrono::seconds refresh)
    : config_(std::move(config)), refresh_(refresh) {}

Result<std::string> Credentials::cached(const std::filesystem::path& file,
                                        const std::string& literal, std::string& value,
                                        std::chrono::steady_clock::time_point& read_at) {
  if (file.empty()) return literal;
  auto now = std::chrono::steady_clock::now();
  if (read_at == std::chrono::steady_clock::time_point{} || now - read_at >= refresh_) {
    auto text = readFile(file);
    if (!text) {
      if (!value.empty()) return value;  // keep the last good one; the file may be mid-rotation
      return text.error();
    }
    // Token files end with a newline when written by hand; the header must not carry it.
    while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
    value = std::move(*text);
    read_at = now;
  }
  return value;
}

Result<std::string> Credentials::token() {
  std::lock_guard lock(mu_);
  return cached(config_.token_file, config_.token, token_, token_read_);
}

Result<std::string> Credentials::caPem() {
  std::lock_guard lock(mu_);
  if (config_.ca_file.empty()) return config_.ca_pem;
  return cached(config_.ca_file, config_.ca_pem, ca_, ca_read_);
}

void Credentials::invalidate() {
  std::lock_guard lock(mu_);
  token_read_ = ca_read_ = {};
}

}  // namespace ambit::kube
