#include "control/ca_secret.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "common/kube/base64.h"
#include "common/log.h"

namespace ambit::control {
namespace {

namespace http = boost::beast::http;

constexpr const char* kKey = "ca-key.pem";
constexpr const char* kCert = "ca-cert.pem";
constexpr const char* kRoot = "root-cert.pem";
constexpr const char* kChain = "cert-chain.pem";

std::string secretPath(const std::string& ns, const std::string& name) {
  return fmt::format("/api/v1/namespaces/{}/secrets/{}", ns, name);
}

// The Secret's CA material; a missing or undecodable key is an error naming it.
Result<identity::CaMaterial> materialOf(const nlohmann::json& secret, const std::string& origin) {
  auto data = secret.find("data");
  if (data == secret.end() || !data->is_object()) return makeError("{} has no data", origin);
  auto field = [&](const char* key, bool required) -> Result<std::string> {
    auto it = data->find(key);
    if (it == data->end() || !it->is_string()) {
      if (!required) return std::string();
      return makeError("{} has no key {}", origin, key);
    }
    auto decoded = kube::base64Decode(it->get<std::string>());
    if (!decoded) return decoded.error().context(fmt::format("{} key {}", origin, key));
    return decoded;
  };
  identity::CaMaterial m;
  auto key = field(kKey, true);
  AMBIT_TRY(key);
  auto cert = field(kCert, true);
  AMBIT_TRY(cert);
  auto root = field(kRoot, true);
  AMBIT_TRY(root);
  auto chain = field(kChain, false);
  AMBIT_TRY(chain);
  return identity::CaMaterial{std::move(*key), std::move(*cert), std::move(*chain),
                              std::move(*root)};
}

// 200: the Secret; 404: nullopt; anything else: an error.
boost::asio::awaitable<Result<std::optional<nlohmann::json>>> getSecret(kube::ApiClient& api,
                                                                        const std::string& ns,
                                                                        const std::string& name) {
  auto resp = co_await api.request(http::verb::get, secretPath(ns, name));
  if (!resp) co_return resp.error();
  if (resp->status == 404) co_return std::optional<nlohmann::json>();
  if (resp->status != 200) {
    co_return makeError("GET Secret {}/{}: HTTP {}: {}", ns, name, resp->status,
                        resp->body.substr(0, 300));
  }
  auto json = nlohmann::json::parse(resp->body, nullptr, false);
  if (json.is_discarded()) co_return makeError("GET Secret {}/{}: not JSON", ns, name);
  co_return std::optional<nlohmann::json>(std::move(json));
}

// Content errors carry kBadCaSecret: retrying cannot fix them.
Result<LoadedCa> fromSecret(const nlohmann::json& secret, const std::string& origin,
                            const CaSecretOptions& o) {
  auto material = materialOf(secret, origin);
  if (!material) return Error{kBadCaSecret, material.error().message};
  auto ca = identity::EmbeddedCa::fromMaterial(*material, o.ca, origin);
  if (!ca) return Error{kBadCaSecret, ca.error().message};
  return LoadedCa{std::shared_ptr<identity::EmbeddedCa>(std::move(*ca)), origin, false};
}

}  // namespace

boost::asio::awaitable<Result<LoadedCa>> loadOrCreateCa(kube::ApiClient& api,
                                                        const CaSecretOptions& o) {
  const std::string plugin_origin = fmt::format("Secret {}/{}", o.ns, o.plugin_secret);
  auto plugin = co_await getSecret(api, o.ns, o.plugin_secret);
  if (!plugin) co_return plugin.error();
  if (*plugin) {
    logInfo("CA: using the plug-in CA in {}", plugin_origin);
    co_return fromSecret(**plugin, plugin_origin, o);
  }
  const std::string origin = fmt::format("Secret {}/{}", o.ns, o.secret);
  auto own = co_await getSecret(api, o.ns, o.secret);
  if (!own) co_return own.error();
  if (*own) co_return fromSecret(**own, origin, o);

  auto material = identity::EmbeddedCa::generateMaterial(o.ca);
  if (!material) co_return material.error();
  nlohmann::json body = {{"apiVersion", "v1"},
                         {"kind", "Secret"},
                         {"type", "Opaque"},
                         {"metadata",
                          {{"name", o.secret},
                           {"namespace", o.ns},
                           {"labels", {{"app.kubernetes.io/managed-by", "ambit-control"}}}}},
                         {"data",
                          {{kKey, kube::base64Encode(material->keyPem)},
                           {kCert, kube::base64Encode(material->certPem)},
                           {kRoot, kube::base64Encode(material->rootPem)},
                           {kChain, kube::base64Encode(material->chainPem)}}}};
  auto created = co_await api.request(
      http::verb::post, fmt::format("/api/v1/namespaces/{}/secrets", o.ns), body.dump());
  if (!created) co_return created.error();
  if (created->status == 409) {
    // Another replica created it first: use that one.
    auto theirs = co_await getSecret(api, o.ns, o.secret);
    if (!theirs) co_return theirs.error();
    if (!*theirs)
      co_return makeError("{} was created by another replica but cannot be read", origin);
    logInfo("CA: another replica created {} first; using it", origin);
    co_return fromSecret(**theirs, origin, o);
  }
  if (created->status != 201 && created->status != 200) {
    co_return makeError("create {}: HTTP {}: {}", origin, created->status,
                        created->body.substr(0, 300));
  }
  auto ca = identity::EmbeddedCa::fromMaterial(*material, o.ca, origin);
  if (!ca) co_return ca.error();
  logInfo("CA: created a new root for trust domain {} in {}", o.ca.trustDomain, origin);
  co_return LoadedCa{std::shared_ptr<identity::EmbeddedCa>(std::move(*ca)), origin, true};
}

}  // namespace ambit::control
