// The direct JSON translation of Pods (kube_pod.h) against the general API path it replaces
// for Pods (kubeObjectResource + translateResource over a YAML copy): on varied pods, valid and
// broken, both must give the same identity, workload, IP claims and errors, in the same order.
#include "common/config/kube_pod.h"

#include <gtest/gtest.h>

#include <functional>
#include <map>

#include "common/config/kube_object.h"
#include "common/config/model.h"
#include "tests/unit/config/kube_objects.h"

namespace ambit::config {
namespace {

using testing::apiPod;
using testing::Json;
using testing::PodSpec;

// What a translation of one object says, comparable across the two paths.
struct Outcome {
  bool identified = false;
  std::string object;
  std::string workload;  // the Workload's text format, "" for none
  std::vector<std::string> ips;
  std::vector<std::string> errors;  // ConfigError::toString() plus the object field

  bool operator==(const Outcome&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Outcome& o) {
  out << "identified=" << o.identified << " object='" << o.object << "'\nworkload:\n"
      << o.workload << "ips:";
  for (const auto& ip : o.ips) out << " " << ip;
  out << "\nerrors:\n";
  for (const auto& e : o.errors) out << "  " << e << "\n";
  return out;
}

std::vector<std::string> errorTexts(const ConfigErrors& errors) {
  std::vector<std::string> out;
  for (const auto& e : errors) out.push_back(e.toString() + " [object '" + e.object + "']");
  return out;
}

LoaderOptions options() {
  LoaderOptions o;
  o.trust_domain = "example.org";
  return o;
}

Outcome viaYaml(const Json& object, std::string_view kind, std::string_view api_version) {
  Outcome o;
  ConfigErrors errors;
  std::optional<Resource> res = kubeObjectResource(object, errors, kind, api_version);
  if (res) {
    o.identified = true;
    o.object = res->object();
    PartialModel model;
    std::map<std::string, const Resource*> seen;
    translateResource(*res, options(), model, seen, errors);
    if (!model.workloads.empty()) o.workload = model.workloads.front().msg.DebugString();
    for (const auto& claim : model.ip_claims) o.ips.push_back(claim.ip);
  }
  o.errors = errorTexts(errors);
  return o;
}

Outcome viaJson(const Json& object, std::string_view api_version) {
  Outcome o;
  ConfigErrors errors;
  std::optional<KubePod> pod = translateKubePod(object, api_version, options(), errors);
  if (pod) {
    o.identified = true;
    o.object = pod->object;
    if (pod->workload) o.workload = pod->workload->DebugString();
    o.ips = pod->ips;
  }
  o.errors = errorTexts(errors);
  return o;
}

Json basePod() {
  PodSpec p;
  p.ns = "shop";
  p.name = "web-7d9f";
  p.labels = {{"app", "web"}, {"version", "v2"}};
  p.ips = {"10.1.2.3", "fd00::3"};
  return apiPod(p);
}

// A named change to the base pod.
struct Variant {
  std::string name;
  std::function<void(Json&)> change;
  std::string kind = "Pod";  // what the watch's type says
  std::string api_version = "v1";
};

std::vector<Variant> variants() {
  return {
      {"unchanged", [](Json&) {}},
      {"pending, no IP yet",
       [](Json& p) {
         p["status"].erase("podIP");
         p["status"].erase("podIPs");
         p["status"]["phase"] = "Pending";
       }},
      {"succeeded", [](Json& p) { p["status"]["phase"] = "Succeeded"; }},
      {"failed", [](Json& p) { p["status"]["phase"] = "Failed"; }},
      {"host network", [](Json& p) { p["spec"]["hostNetwork"] = true; }},
      {"host network as YAML's yes", [](Json& p) { p["spec"]["hostNetwork"] = "yes"; }},
      {"host network not a boolean", [](Json& p) { p["spec"]["hostNetwork"] = "maybe"; }},
      {"host network a map", [](Json& p) { p["spec"]["hostNetwork"] = Json::object(); }},
      {"duplicate and v6 IPs",
       [](Json& p) {
         p["status"]["podIPs"].push_back({{"ip", "10.1.2.3"}});
       }},
      {"no namespace", [](Json& p) { p["metadata"].erase("namespace"); }},
      {"empty namespace", [](Json& p) { p["metadata"]["namespace"] = ""; }},
      {"list item without kind or apiVersion",
       [](Json& p) {
         p.erase("kind");
         p.erase("apiVersion");
       }},
      {"no apiVersion anywhere", [](Json& p) { p.erase("apiVersion"); }, "Pod", ""},
      {"apiVersion null", [](Json& p) { p["apiVersion"] = nullptr; }},
      {"apiVersion v2", [](Json& p) { p["apiVersion"] = "v2"; }},
      {"apiVersion a map",
       [](Json& p) {
         p["apiVersion"] = {{"a", 1}};
       }},
      {"no uid", [](Json& p) { p["metadata"].erase("uid"); }},
      {"no metadata", [](Json& p) { p.erase("metadata"); }},
      {"metadata null", [](Json& p) { p["metadata"] = nullptr; }},
      {"metadata a list", [](Json& p) { p["metadata"] = Json::array({1}); }},
      {"no name", [](Json& p) { p["metadata"].erase("name"); }},
      {"name a number", [](Json& p) { p["metadata"]["name"] = 42; }},
      {"name not a DNS label", [](Json& p) { p["metadata"]["name"] = "Web_1"; }},
      {"namespace not a DNS label", [](Json& p) { p["metadata"]["namespace"] = "Shop!"; }},
      {"namespace a map", [](Json& p) { p["metadata"]["namespace"] = Json::object(); }},
      {"unknown metadata field", [](Json& p) { p["metadata"]["colour"] = "blue"; }},
      {"unknown top-level field", [](Json& p) { p["extra"] = 1; }},
      {"unknown spec and status fields",
       [](Json& p) {
         p["spec"]["nodeNmae"] = "typo";
         p["status"]["podIp"] = "typo";
       }},
      {"spec a list",
       [](Json& p) {
         p["spec"] = Json::array({1, 2});
       }},
      {"spec null", [](Json& p) { p["spec"] = nullptr; }},
      {"status a string", [](Json& p) { p["status"] = "Running"; }},
      {"phase a map",
       [](Json& p) {
         p["status"]["phase"] = {{"x", 1}};
       }},
      {"node name a number", [](Json& p) { p["spec"]["nodeName"] = 7; }},
      {"node name a list", [](Json& p) { p["spec"]["nodeName"] = Json::array({"a"}); }},
      {"only the old serviceAccount", [](Json& p) { p["spec"].erase("serviceAccountName"); }},
      {"no service account",
       [](Json& p) {
         p["spec"].erase("serviceAccountName");
         p["spec"].erase("serviceAccount");
       }},
      {"both service account fields broken",
       [](Json& p) {
         p["spec"]["serviceAccountName"] = Json::object();
         p["spec"]["serviceAccount"] = Json::array();
       }},
      {"mesh labels",
       [](Json& p) {
         p["metadata"]["labels"]["istio.io/dataplane-mode"] = "ambient";
         p["metadata"]["labels"]["istio.io/use-waypoint"] = "wp";
         p["metadata"]["labels"]["service.istio.io/canonical-name"] = "shop-web";
         p["metadata"]["labels"]["app.kubernetes.io/version"] = "3";
       }},
      {"bad mesh labels",
       [](Json& p) {
         p["metadata"]["labels"]["istio.io/dataplane-mode"] = "sidecar";
         p["metadata"]["labels"]["istio.io/use-waypoint"] = "Not_A_Name";
       }},
      {"label value null", [](Json& p) { p["metadata"]["labels"]["tier"] = nullptr; }},
      {"label value a number", [](Json& p) { p["metadata"]["labels"]["tier"] = 3; }},
      {"label value a map",
       [](Json& p) {
         p["metadata"]["labels"]["tier"] = {{"a", "b"}};
       }},
      {"label key and value invalid", [](Json& p) { p["metadata"]["labels"]["bad key!"] = "v v"; }},
      {"labels a list", [](Json& p) { p["metadata"]["labels"] = Json::array({"app"}); }},
      {"no labels", [](Json& p) { p["metadata"].erase("labels"); }},
      {"ambit annotations",
       [](Json& p) {
         p["metadata"]["annotations"]["ambit.dev/netns"] = "/var/run/netns/x";
         p["metadata"]["annotations"]["ambit.dev/bypass-inbound-ports"] = "8080, 9090";
         p["metadata"]["annotations"]["ambit.dev/bypass-outbound-cidrs"] = "10.0.0.0/8";
       }},
      {"bad ambit annotations",
       [](Json& p) {
         p["metadata"]["annotations"]["ambit.dev/bypass-inbound-ports"] = "80,0,x,70000";
         p["metadata"]["annotations"]["ambit.dev/bypass-outbound-cidrs"] = "10.0.0.0/33,nope";
       }},
      {"annotations a string", [](Json& p) { p["metadata"]["annotations"] = "a=b"; }},
      {"annotation a list", [](Json& p) { p["metadata"]["annotations"]["x"] = Json::array(); }},
      {"podIPs not a list", [](Json& p) { p["status"]["podIPs"] = "10.1.2.3"; }},
      {"podIPs item not a map", [](Json& p) { p["status"]["podIPs"][0] = "10.1.2.3"; }},
      {"podIPs item without ip",
       [](Json& p) {
         p["status"]["podIPs"][1] = {{"addr", "x"}};
       }},
      {"podIPs item ip a map",
       [](Json& p) {
         p["status"]["podIPs"][1]["ip"] = {{"v", 4}};
       }},
      {"invalid pod IPs",
       [](Json& p) {
         p["status"]["podIP"] = "10.1.2.300";
         p["status"]["podIPs"][1]["ip"] = "not-an-ip";
       }},
      {"pod IP a number", [](Json& p) { p["status"]["podIP"] = 167837955; }},
      {"not ready", [](Json& p) { p["status"]["conditions"][1]["status"] = "False"; }},
      {"no Ready condition", [](Json& p) { p["status"]["conditions"].erase(1); }},
      {"no conditions (local-mode file)", [](Json& p) { p["status"].erase("conditions"); }},
      {"terminating", [](Json& p) { p["metadata"]["deletionTimestamp"] = "2026-12-05T10:00:00Z"; }},
      {"conditions not a list", [](Json& p) { p["status"]["conditions"] = "Ready"; }},
      {"condition not a map", [](Json& p) { p["status"]["conditions"][0] = "Ready"; }},
      {"condition status a map",
       [](Json& p) {
         p["status"]["conditions"][1]["status"] = {{"v", true}};
       }},
      {"named container ports",
       [](Json& p) {
         Json& c = p["spec"]["containers"][0];
         c["ports"].push_back({{"name", "http"}, {"containerPort", 8081}});
         c["ports"].push_back({{"name", "grpc"}, {"containerPort", "9090"}});
         Json sidecar = {{"name", "side"},
                         {"ports", Json::array({{{"name", "metrics"}, {"containerPort", 15020}}})}};
         p["spec"]["containers"].push_back(sidecar);
       }},
      {"bad container ports",
       [](Json& p) {
         Json& ports = p["spec"]["containers"][0]["ports"];
         ports.push_back({{"name", "zero"}, {"containerPort", 0}});
         ports.push_back({{"name", "word"}, {"containerPort", "http"}});
         ports.push_back({{"name", "map"}, {"containerPort", {{"a", 1}}}});
         ports.push_back({{"name", "none"}});
         ports.push_back("8080");
       }},
      {"containers a map",
       [](Json& p) {
         p["spec"]["containers"] = {{"app", 1}};
       }},
      {"ports a string", [](Json& p) { p["spec"]["containers"][0]["ports"] = "8080"; }},
      {"many problems at once",
       [](Json& p) {
         p["extra"] = true;
         p["spec"]["nodeName"] = Json::object();
         p["spec"]["bogus"] = 1;
         p["status"]["podIP"] = "x";
         p["metadata"]["labels"]["istio.io/dataplane-mode"] = "on";
       }},
  };
}

TEST(KubePod, JsonPathMatchesTheYamlPathOnVariedPods) {
  for (const Variant& v : variants()) {
    Json pod = basePod();
    v.change(pod);
    ASSERT_TRUE(isKubePod(pod, v.kind)) << v.name;
    EXPECT_EQ(viaJson(pod, v.api_version), viaYaml(pod, v.kind, v.api_version)) << v.name;
  }
}

TEST(KubePod, BadFieldsGetErrorsNamingThem) {
  Json pod = basePod();
  pod["spec"]["hostNetwork"] = "maybe";
  pod["status"]["podIPs"][1] = {{"addr", "x"}};
  pod["spec"]["nodeName"] = Json::array();
  ConfigErrors errors;
  auto result = translateKubePod(pod, "v1", options(), errors);
  ASSERT_TRUE(result.has_value());
  EXPECT_EQ(result->object, "Pod shop/web-7d9f");
  std::vector<std::string> reasons;
  for (const auto& e : errors) {
    EXPECT_EQ(e.file, "kubernetes:Pod shop/web-7d9f");
    EXPECT_EQ(e.object, "Pod shop/web-7d9f");
    reasons.push_back(e.reason);
  }
  EXPECT_EQ(reasons, (std::vector<std::string>{
                         "spec.nodeName: must be a string, got a list",
                         "spec.hostNetwork: must be true or false",
                         "missing required field status.podIPs[1].ip",
                     }));
}

// What the data planes use to pick endpoints: readiness (terminating counts as not ready) and
// named container ports.
TEST(KubePod, ReadinessAndNamedPorts) {
  auto workload = [](const Json& pod) {
    ConfigErrors errors;
    auto out = translateKubePod(pod, "v1", options(), errors);
    EXPECT_TRUE(errors.empty()) << errorTexts(errors).front();
    return out && out->workload ? *out->workload : v1::Workload();
  };
  Json pod = basePod();
  EXPECT_FALSE(workload(pod).not_ready());
  pod["metadata"]["deletionTimestamp"] = "2026-12-05T10:00:00Z";
  EXPECT_TRUE(workload(pod).not_ready());
  pod = basePod();
  pod["status"]["conditions"][1]["status"] = "False";
  EXPECT_TRUE(workload(pod).not_ready());
  pod["status"]["conditions"].erase(1);  // scheduled, no Ready condition yet
  EXPECT_TRUE(workload(pod).not_ready());
  pod["status"].erase("conditions");  // a local-mode file says nothing: ready
  EXPECT_FALSE(workload(pod).not_ready());

  pod["spec"]["containers"][0]["ports"].push_back({{"name", "http"}, {"containerPort", 8081}});
  const v1::Workload w = workload(pod);
  ASSERT_EQ(w.named_ports().size(), 1u);  // the unnamed 8080 is not there
  EXPECT_EQ(w.named_ports().at("http"), 8081u);

  Json bad = basePod();
  bad["spec"]["containers"][0]["ports"].push_back({{"name", "http"}, {"containerPort", 70000}});
  ConfigErrors errors;
  translateKubePod(bad, "v1", options(), errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].reason,
            "spec.containers[0].ports[1].containerPort: 70000 is out of range [1, 65535]");
}

TEST(KubePod, OnlyPodsTakeTheJsonPath) {
  EXPECT_TRUE(isKubePod(Json{{"kind", "Pod"}}, ""));
  EXPECT_TRUE(isKubePod(Json{{"metadata", Json::object()}}, "Pod"));
  EXPECT_FALSE(isKubePod(Json{{"kind", "Service"}}, "Pod"));
  EXPECT_FALSE(isKubePod(Json{{"metadata", Json::object()}}, "Service"));
  // A kind that is not a string goes the general way, which reports it.
  EXPECT_FALSE(isKubePod(Json{{"kind", nullptr}}, "Pod"));
  EXPECT_FALSE(isKubePod(Json::array(), "Pod"));
}

}  // namespace
}  // namespace ambit::config
