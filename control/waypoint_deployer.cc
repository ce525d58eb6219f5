#include "control/waypoint_deployer.h"

#include <fmt/format.h>

#include "common/kube/watch_event.h"
#include "control/kube_writes.h"

namespace ambit::control {
namespace {

namespace http = boost::beast::http;
using nlohmann::json;

const kube::ResourceType kServiceAccounts{"", "v1", "serviceaccounts", "ServiceAccount", true};
const kube::ResourceType kDeployments{"apps", "v1", "deployments", "Deployment", true};
const kube::ResourceType kServices{"", "v1", "services", "Service", true};
const kube::ResourceType kGateways{"gateway.networking.k8s.io", "v1", "gateways", "Gateway", true};

constexpr const char* kGatewayNameLabel = "gateway.networking.k8s.io/gateway-name";
constexpr const char* kTokenDir = "/var/run/secrets/ambit/tokens";
constexpr const char* kCaDir = "/var/run/ambit/ca";

json metadataFor(const std::string& name, const std::string& ns, const json& owner) {
  return {
      {"name", name},
      {"namespace", ns},
      {"labels", {{kGatewayNameLabel, name}, {"app.kubernetes.io/managed-by", "ambit-control"}}},
      {"ownerReferences", json::array({owner})}};
}

json deploymentFor(const std::string& name, const std::string& ns, const json& owner,
                   const WaypointTemplate& t) {
  json labels = {{kGatewayNameLabel, name},
                 // The waypoint terminates HBONE itself: never capture its own traffic.
                 {"istio.io/dataplane-mode", "none"}};
  json container = {
      {"name", "waypoint"},
      {"image", t.image},
      {"imagePullPolicy", t.image_pull_policy},
      {"args",
       {"--namespace",
        ns,
        "--gateway",
        name,
        "--service-account",
        name,
        "--trust-domain",
        t.trust_domain,
        "--discovery-address",
        t.control_address,
        "--ca-address",
        t.control_address,
        "--control-ca",
        fmt::format("{}/root-cert.pem", kCaDir),
        "--token-file",
        fmt::format("{}/ambit-token", kTokenDir),
        "--listen",
        "0.0.0.0",
        "--stats-address",
        "0.0.0.0",
        "--shutdown-delay-ms",
        std::to_string(std::chrono::milliseconds(t.shutdown_delay).count()),
        "--drain-ms",
        std::to_string(std::chrono::milliseconds(t.drain).count())}},
      {"ports",
       {{{"name", "hbone"}, {"containerPort", 15008}},
        {{"name", "http-monitoring"}, {"containerPort", 15020}},
        {{"name", "readiness"}, {"containerPort", 15021}}}},
      // Requests (no limits): QoS Burstable, like Istio's waypoint template.
      {"resources", {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/healthz/ready"}, {"port", 15021}}}, {"periodSeconds", 2}}},
      {"securityContext",
       {{"allowPrivilegeEscalation", false},
        {"readOnlyRootFilesystem", true},
        {"runAsNonRoot", true},
        {"runAsUser", 1337},
        {"capabilities", {{"drop", {"ALL"}}}}}},
      {"volumeMounts",
       {{{"name", "ambit-token"}, {"mountPath", kTokenDir}, {"readOnly", true}},
        {{"name", "ambit-ca"}, {"mountPath", kCaDir}, {"readOnly", true}}}}};
  if (!t.zipkin_address.empty()) {
    container["args"].insert(container["args"].end(), {"--zipkin-address", t.zipkin_address});
  }
  if (!t.otlp_endpoint.empty()) {
    container["args"].insert(container["args"].end(), {"--otlp-endpoint", t.otlp_endpoint});
  }
  const auto grace = t.shutdown_delay + t.drain + std::chrono::seconds(kTerminationMarginSeconds);
  json pod_spec = {{"serviceAccountName", name},
                   {"terminationGracePeriodSeconds", grace.count()},
                   {"containers", json::array({container})},
                   {"volumes",
                    {{{"name", "ambit-token"},
                      {"projected",
                       {{"sources",
                         {{{"serviceAccountToken",
                            {{"audience", t.token_audience},
                             {"expirationSeconds", 3600},
                             {"path", "ambit-token"}}}}}}}}},
                     {{"name", "ambit-ca"}, {"configMap", {{"name", t.root_cert_configmap}}}}}}};
  return {{"apiVersion", "apps/v1"},
          {"kind", "Deployment"},
          {"metadata", metadataFor(name, ns, owner)},
          {"spec",
           {{"replicas", t.replicas},
            {"selector", {{"matchLabels", {{kGatewayNameLabel, name}}}}},
            {"template",
             {{"metadata",
               {{"labels", labels},
                {"annotations",
                 {{"prometheus.io/scrape", "true"},
                  {"prometheus.io/port", "15020"},
                  {"prometheus.io/path", "/metrics"}}}}},
              {"spec", pod_spec}}}}}};
}

}  // namespace

bool isWaypointClass(const std::string& gateway_class) {
  return gateway_class == "istio-waypoint" || gateway_class == "ambit-waypoint";
}

Result<std::vector<json>> waypointObjects(const json& gateway, const WaypointTemplate& t) {
  const json meta = gateway.value("metadata", json::object());
  const std::string name = meta.value("name", std::string());
  const std::string ns = meta.value("namespace", std::string());
  const std::string uid = meta.value("uid", std::string());
  if (name.empty() || ns.empty() || uid.empty()) {
    return makeError("Gateway '{}/{}': metadata.name, namespace and uid are required", ns, name);
  }
  const json owner = {{"apiVersion", gateway.value("apiVersion", "gateway.networking.k8s.io/v1")},
                      {"kind", "Gateway"},
                      {"name", name},
                      {"uid", uid},
                      {"controller", true}};
  std::vector<json> out;
  out.push_back({{"apiVersion", "v1"},
                 {"kind", "ServiceAccount"},
                 {"metadata", metadataFor(name, ns, owner)}});
  out.push_back(deploymentFor(name, ns, owner, t));
  out.push_back(
      {{"apiVersion", "v1"},
       {"kind", "Service"},
       {"metadata", metadataFor(name, ns, owner)},
       {"spec",
        {{"selector", {{kGatewayNameLabel, name}}},
         {"ports",
          {{{"name", "mesh"}, {"port", 15008}, {"targetPort", 15008}, {"protocol", "TCP"}}}}}}});
  return out;
}

WaypointDeployer::WaypointDeployer(kube::ApiClient& api, WaypointTemplate t)
    : api_(api), template_(std::move(t)) {}

boost::asio::awaitable<Status> WaypointDeployer::apply(const json& gateway) {
  auto objects = waypointObjects(gateway, template_);
  if (!objects) co_return objects.error();
  const kube::ResourceType* types[] = {&kServiceAccounts, &kDeployments, &kServices};
  for (size_t i = 0; i < objects->size(); ++i) {
    auto wrote = co_await ensureObject(api_, *types[i], (*objects)[i]);
    if (!wrote) co_return wrote.error();
  }
  co_return co_await publishAddress(gateway);
}

boost::asio::awaitable<Status> WaypointDeployer::publishAddress(const json& gateway) {
  const std::string name = gateway["metadata"].value("name", std::string());
  const std::string ns = gateway["metadata"].value("namespace", std::string());
  const std::string svc_path = kServices.collectionPath(ns) + "/" + name;
  auto svc = co_await api_.request(http::verb::get, svc_path);
  if (!svc) co_return svc.error();
  if (svc->status != 200) co_return makeError("get Service {}/{}: HTTP {}", ns, name, svc->status);
  auto obj = json::parse(svc->body, nullptr, false);
  const std::string ip = obj.is_discarded() ? "" : obj["spec"].value("clusterIP", std::string());
  if (ip.empty() || ip == "None") co_return Status::ok();  // not allocated (yet)
  json addresses = json::array({{{"type", "IPAddress"}, {"value", ip}}});
  auto status = gateway.find("status");
  if (status != gateway.end() && status->value("addresses", json()) == addresses) {
    co_return Status::ok();
  }
  const std::string patch = json{{"status", {{"addresses", addresses}}}}.dump();
  const std::string status_path = kGateways.collectionPath(ns) + "/" + name + "/status";
  auto resp =
      co_await api_.request(http::verb::patch, status_path, patch, "application/merge-patch+json");
  if (!resp) co_return resp.error();
  if (resp->status != 200) {
    co_return makeError("patch Gateway {}/{} status: HTTP {}: {}", ns, name, resp->status,
                        kube::parseStatus(resp->body).message);
  }
  co_return Status::ok();
}

boost::asio::awaitable<Status> WaypointDeployer::remove(const std::string& ns,
                                                        const std::string& name) {
  for (const kube::ResourceType* type : {&kServices, &kDeployments, &kServiceAccounts}) {
    AMBIT_CO_TRY(co_await deleteObject(api_, *type, ns, name));
  }
  co_return Status::ok();
}

}  // namespace ambit::control
