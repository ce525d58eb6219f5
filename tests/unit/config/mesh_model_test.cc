// MeshModel behaviours one at a time: real API objects, last good on bad input, order
// independence of cross-resource conditions, delta coalescing, and how far a change reaches.
#include "common/config/mesh_model.h"

#include <gtest/gtest.h>

#include "common/config/kube_object.h"
#include "tests/unit/config/kube_objects.h"

namespace ambit::config {
namespace {

using testing::apiPod;
using testing::Json;
using testing::PodSpec;

PodSpec podSpec(const std::string& name, const std::string& app, const std::string& ip,
                const std::string& ns = "default") {
  PodSpec p;
  p.ns = ns;
  p.name = name;
  p.labels = {{"app", app}};
  if (!ip.empty()) p.ips = {ip};
  p.uid = "uid-" + ns + "-" + name;
  return p;
}

const v1::Workload* findWorkload(const v1::MeshSnapshot& s, const std::string& uid) {
  for (const auto& w : s.workloads()) {
    if (w.uid() == uid) return &w;
  }
  return nullptr;
}

const v1::Service* findService(const v1::MeshSnapshot& s, const std::string& name) {
  for (const auto& svc : s.services()) {
    if (svc.name() == name) return &svc;
  }
  return nullptr;
}

std::vector<std::string> names(const MeshDelta& d, MeshType type) {
  std::vector<std::string> out;
  for (const auto& [name, msg] : d.of(type).upserted) out.push_back(name);
  return out;
}

std::string allErrors(const UpsertResult& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.toString() + "\n";
  return out;
}

TEST(KubeObject, ApiPodBecomesAWorkloadKeyedByItsUid) {
  PodSpec p = podSpec("web-1", "web", "10.244.1.5");
  p.ips.push_back("fd00::5");
  p.node = "node-7";
  MeshModel model;
  const UpsertResult r = model.upsert(apiPod(p));
  ASSERT_EQ(r.outcome, UpsertOutcome::kApplied) << allErrors(r);
  EXPECT_EQ(r.object, "Pod default/web-1");
  const auto snap = model.snapshot();
  const v1::Workload* w = findWorkload(snap, "uid-default-web-1");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->name(), "web-1");
  EXPECT_EQ(w->node(), "node-7");
  EXPECT_EQ(w->service_account(), "sa-web");
  EXPECT_EQ(std::vector<std::string>(w->addresses().begin(), w->addresses().end()),
            (std::vector<std::string>{"10.244.1.5", "fd00::5"}));
}

TEST(KubeObject, ListItemsWithoutKindTakeTheGivenOne) {
  Json pod = apiPod(podSpec("web-1", "web", "10.244.1.5"));
  pod.erase("kind");
  pod.erase("apiVersion");
  MeshModel model;
  EXPECT_EQ(model.upsert(pod).outcome, UpsertOutcome::kRejected);
  EXPECT_EQ(model.upsert(pod, "Pod", "v1").outcome, UpsertOutcome::kApplied);
  EXPECT_EQ(model.size(MeshType::kWorkload), 1u);
}

TEST(KubeObject, PendingPodHasNoAddressesAndCompletedPodIsNoWorkload) {
  MeshModel model;
  ASSERT_TRUE(model.upsert(apiPod(podSpec("web-1", "web", ""))).ok());
  auto snap = model.snapshot();
  ASSERT_EQ(snap.workloads_size(), 1);
  EXPECT_EQ(snap.workloads(0).addresses_size(), 0);
  model.takeDelta();
  PodSpec done = podSpec("web-1", "web", "10.244.1.5");
  done.phase = "Succeeded";
  ASSERT_TRUE(model.upsert(apiPod(done)).ok());
  const MeshDelta d = model.takeDelta();
  EXPECT_EQ(d.of(MeshType::kWorkload).removed, std::vector<std::string>{"uid-default-web-1"});
  EXPECT_EQ(model.size(MeshType::kWorkload), 0u);
  // Its IP is free for the next pod.
  EXPECT_EQ(model.upsert(apiPod(podSpec("web-2", "web", "10.244.1.5"))).outcome,
            UpsertOutcome::kApplied);
}

TEST(KubeObject, ErrorsNameTheObjectAndTheField) {
  Json pod = apiPod(podSpec("web-1", "web", "10.244.1.5"));
  pod["spec"]["nodeNmae"] = "typo";
  ConfigErrors errors;
  auto res = kubeObjectResource(pod, errors);
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->file, "kubernetes:Pod default/web-1");
  MeshModel model;
  const UpsertResult r = model.upsert(pod);
  ASSERT_EQ(r.outcome, UpsertOutcome::kRejected);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].toString(),
            "kubernetes:Pod default/web-1: Pod default/web-1: unknown field spec.nodeNmae");
  EXPECT_EQ(model.upsert(Json::array()).outcome, UpsertOutcome::kRejected);
}

TEST(MeshModel, UnknownKindsAreIgnored) {
  MeshModel model;
  Json deploy = {{"apiVersion", "apps/v1"},
                 {"kind", "Deployment"},
                 {"metadata", testing::apiMetadata("default", "web", {})}};
  const UpsertResult r = model.upsert(deploy);
  EXPECT_EQ(r.outcome, UpsertOutcome::kIgnored);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].reason.find("kind 'Deployment' is not part of the mesh model"),
            std::string::npos);
  EXPECT_EQ(model.objectCount(), 0u);
  EXPECT_FALSE(model.remove("Deployment", "default", "web"));
}

TEST(MeshModel, BadObjectKeepsTheLastGoodVersion) {
  MeshModel model;
  ASSERT_TRUE(
      model.upsert(testing::apiDestinationRule("default", "my-app", "my-app", {"v1", "v2"})).ok());
  ASSERT_TRUE(model
                  .upsert(testing::apiVirtualService("default", "my-app", "my-app",
                                                     {{"v1", 80}, {"v2", 20}}))
                  .ok());
  model.takeDelta();
  const UpsertResult r = model.upsert(
      testing::apiVirtualService("default", "my-app", "my-app", {{"v1", 80}, {"v2", 30}}));
  ASSERT_EQ(r.outcome, UpsertOutcome::kRejected);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].toString(),
            "kubernetes:VirtualService default/my-app: VirtualService default/my-app: "
            "spec.http[0].route: route weights sum to 110, must be 100");
  EXPECT_TRUE(model.takeDelta().empty());
  const auto snap = model.snapshot();
  ASSERT_EQ(snap.route_tables_size(), 1);
  EXPECT_EQ(snap.route_tables(0).http(0).destinations(1).weight(), 20u);
  // Never good: nothing stored, everything else still works.
  const UpsertResult fresh = model.upsert(
      testing::apiVirtualService("default", "other", "my-app", {{"v1", 80}, {"v2", 30}}));
  EXPECT_EQ(fresh.outcome, UpsertOutcome::kRejected);
  EXPECT_EQ(model.size(MeshType::kRouteTable), 1u);
  EXPECT_FALSE(model.remove("VirtualService", "default", "other"));
  EXPECT_TRUE(model.upsert(apiPod(podSpec("web-1", "web", "10.0.0.1"))).ok());
}

// Subsets: a VirtualService naming a subset no DestinationRule defines is stored but pending,
// and enters the mesh by itself when the DestinationRule arrives; both orders end the same.
TEST(MeshModel, DanglingSubsetIsPendingWhicheverArrivesFirst) {
  const Json vs =
      testing::apiVirtualService("default", "my-app", "my-app", {{"v1", 80}, {"v2", 20}});
  const Json dr = testing::apiDestinationRule("default", "my-app", "my-app", {"v1", "v2"});
  MeshModel vs_first;
  const UpsertResult pending = vs_first.upsert(vs);
  ASSERT_EQ(pending.outcome, UpsertOutcome::kPending);
  ASSERT_EQ(pending.errors.size(), 2u);
  EXPECT_EQ(pending.errors[0].reason,
            "subset 'v1' of host my-app.default.svc.cluster.local is not defined by any "
            "DestinationRule");
  EXPECT_EQ(vs_first.size(MeshType::kRouteTable), 0u);
  EXPECT_TRUE(vs_first.takeDelta().of(MeshType::kRouteTable).upserted.empty());
  EXPECT_TRUE(vs_first.upsert(dr).ok());
  EXPECT_TRUE(vs_first.pendingErrors().empty());
  EXPECT_EQ(names(vs_first.takeDelta(), MeshType::kRouteTable),
            std::vector<std::string>{"default/my-app"});

  MeshModel dr_first;
  EXPECT_TRUE(dr_first.upsert(dr).ok());
  EXPECT_TRUE(dr_first.upsert(vs).ok());
  auto a = vs_first.snapshot(), b = dr_first.snapshot();
  a.clear_version();
  b.clear_version();
  EXPECT_EQ(a.SerializeAsString(), b.SerializeAsString());

  // Dropping subset v2 takes the route out again until it is back.
  ASSERT_TRUE(
      vs_first.upsert(testing::apiDestinationRule("default", "my-app", "my-app", {"v1"})).ok());
  EXPECT_EQ(vs_first.takeDelta().of(MeshType::kRouteTable).removed,
            std::vector<std::string>{"default/my-app"});
  ASSERT_EQ(vs_first.pendingErrors().size(), 1u);
  EXPECT_TRUE(vs_first.remove("DestinationRule", "default", "my-app"));
  EXPECT_EQ(vs_first.pendingErrors().size(), 2u);
  EXPECT_TRUE(vs_first.upsert(dr).ok());
  EXPECT_EQ(vs_first.size(MeshType::kRouteTable), 1u);
}

TEST(MeshModel, PodIpClashRejectsTheLaterPodUntilTheFirstGoes) {
  MeshModel model;
  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "web", "10.0.0.1"))).ok());
  const UpsertResult later = model.upsert(apiPod(podSpec("b", "web", "10.0.0.1")));
  ASSERT_EQ(later.outcome, UpsertOutcome::kPending);
  ASSERT_EQ(later.errors.size(), 1u);
  EXPECT_EQ(later.errors[0].toString(),
            "kubernetes:Pod default/b: Pod default/b: pod IP 10.0.0.1 is already used by Pod "
            "default/a");
  // An update keeps the first pod's place.
  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "api", "10.0.0.1"))).ok());
  EXPECT_EQ(names(model.takeDelta(), MeshType::kWorkload),
            std::vector<std::string>{"uid-default-a"});
  EXPECT_TRUE(model.remove("Pod", "default", "a"));
  const MeshDelta d = model.takeDelta();
  EXPECT_EQ(d.of(MeshType::kWorkload).removed, std::vector<std::string>{"uid-default-a"});
  EXPECT_EQ(names(d, MeshType::kWorkload), std::vector<std::string>{"uid-default-b"});
  EXPECT_TRUE(model.pendingErrors().empty());
}

TEST(MeshModel, DeltaCoalescesChangesBetweenCalls) {
  MeshModel model;
  const MeshDelta first = model.takeDelta();
  EXPECT_EQ(first.size(), 1u);  // the settings
  EXPECT_EQ(names(first, MeshType::kSettings), std::vector<std::string>{"mesh"});

  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "web", "10.0.0.1"))).ok());
  EXPECT_TRUE(model.remove("Pod", "default", "a"));
  EXPECT_TRUE(model.takeDelta().empty()) << "created and deleted before anyone saw it";

  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "web", "10.0.0.1"))).ok());
  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "api", "10.0.0.1"))).ok());
  MeshDelta d = model.takeDelta();
  ASSERT_EQ(d.size(), 1u);
  const auto& w = static_cast<const v1::Workload&>(*d.of(MeshType::kWorkload).upserted[0].second);
  EXPECT_EQ(w.labels().at("app"), "api");

  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "web", "10.0.0.1"))).ok());
  EXPECT_TRUE(model.remove("Pod", "default", "a"));
  d = model.takeDelta();
  EXPECT_EQ(d.size(), 1u);
  EXPECT_EQ(d.of(MeshType::kWorkload).removed, std::vector<std::string>{"uid-default-a"});

  // A change the mesh does not see (a pod condition) makes no delta.
  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "web", "10.0.0.1"))).ok());
  model.takeDelta();
  Json pod = apiPod(podSpec("a", "web", "10.0.0.1"));
  pod["status"]["conditions"].push_back({{"type", "Ready"}, {"status", "True"}});
  pod["metadata"]["resourceVersion"] = "99999";
  ASSERT_TRUE(model.upsert(pod).ok());
  EXPECT_TRUE(model.takeDelta().empty());
}

// 20 services (app=s0..s19) over 200 pods: moving one pod from s3 to s7 changes its workload
// and those two services, nothing else.
TEST(MeshModel, PodLabelChangeTouchesOnlyItsServices) {
  MeshModel model;
  for (int s = 0; s < 20; ++s) {
    ASSERT_TRUE(model
                    .upsert(testing::apiService("default", "s" + std::to_string(s),
                                                {{"app", "s" + std::to_string(s)}},
                                                "10.96.0." + std::to_string(s + 1)))
                    .ok());
  }
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(model
                    .upsert(apiPod(podSpec("p" + std::to_string(i), "s" + std::to_string(i % 20),
                                           "10.1.0." + std::to_string(i))))
                    .ok());
  }
  model.takeDelta();
  ASSERT_TRUE(model.upsert(apiPod(podSpec("p3", "s7", "10.1.0.3"))).ok());
  const MeshDelta d = model.takeDelta();
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(names(d, MeshType::kWorkload), std::vector<std::string>{"uid-default-p3"});
  EXPECT_EQ(names(d, MeshType::kService), (std::vector<std::string>{"default/s3", "default/s7"}));
  const auto snap = model.snapshot();
  EXPECT_EQ(findService(snap, "s3")->endpoints_size(), 9);
  EXPECT_EQ(findService(snap, "s7")->endpoints_size(), 11);
  EXPECT_EQ(std::vector<std::string>(findWorkload(snap, "uid-default-p3")->services().begin(),
                                     findWorkload(snap, "uid-default-p3")->services().end()),
            std::vector<std::string>{"default/s7"});
}

std::vector<std::string> servicesOf(const v1::MeshSnapshot& snap, const std::string& uid) {
  const v1::Workload* w = findWorkload(snap, uid);
  if (w == nullptr) return {"<no workload " + uid + ">"};
  return {w->services().begin(), w->services().end()};
}

// Workload.services is the inverse of Service.endpoints (what ambit-control's discovery stream
// carries instead of endpoints), kept current by every change that moves an endpoint.
TEST(MeshModel, WorkloadListsTheServicesThatSelectIt) {
  MeshModel model;
  ASSERT_TRUE(
      model.upsert(testing::apiService("default", "web", {{"app", "web"}}, "10.96.0.1")).ok());
  ASSERT_TRUE(
      model.upsert(testing::apiService("default", "all", {{"tier", "x"}}, "10.96.0.2")).ok());
  PodSpec p = podSpec("web-1", "web", "10.0.0.1");
  p.labels["tier"] = "x";
  ASSERT_TRUE(model.upsert(apiPod(p)).ok());
  ASSERT_TRUE(model.upsert(apiPod(podSpec("other", "other", "10.0.0.2"))).ok());
  model.takeDelta();
  auto snap = model.snapshot();
  EXPECT_EQ(servicesOf(snap, "uid-default-web-1"),
            (std::vector<std::string>{"default/all", "default/web"}));
  EXPECT_EQ(servicesOf(snap, "uid-default-other"), std::vector<std::string>{});

  // A new pod: its Workload lists the service; no other Workload changes.
  ASSERT_TRUE(model.upsert(apiPod(podSpec("web-2", "web", ""))).ok());
  MeshDelta d = model.takeDelta();
  EXPECT_EQ(names(d, MeshType::kWorkload), std::vector<std::string>{"uid-default-web-2"});
  EXPECT_EQ(servicesOf(model.snapshot(), "uid-default-web-2"),
            std::vector<std::string>{"default/web"});

  // A selector change moves the members: the Workloads that joined or left change.
  ASSERT_TRUE(
      model.upsert(testing::apiService("default", "all", {{"app", "other"}}, "10.96.0.2")).ok());
  d = model.takeDelta();
  EXPECT_EQ(names(d, MeshType::kWorkload),
            (std::vector<std::string>{"uid-default-other", "uid-default-web-1"}));
  snap = model.snapshot();
  EXPECT_EQ(servicesOf(snap, "uid-default-web-1"), std::vector<std::string>{"default/web"});
  EXPECT_EQ(servicesOf(snap, "uid-default-other"), std::vector<std::string>{"default/all"});

  // The service goes: its members' Workloads no longer list it.
  ASSERT_TRUE(model.remove("Service", "default", "web"));
  d = model.takeDelta();
  EXPECT_EQ(names(d, MeshType::kWorkload),
            (std::vector<std::string>{"uid-default-web-1", "uid-default-web-2"}));
  snap = model.snapshot();
  EXPECT_EQ(servicesOf(snap, "uid-default-web-1"), std::vector<std::string>{});
  EXPECT_EQ(servicesOf(snap, "uid-default-web-2"), std::vector<std::string>{});
}

TEST(MeshModel, NamespaceFlipTouchesOnlyThatNamespace) {
  MeshModel model;
  for (const std::string ns : {"one", "two"}) {
    ASSERT_TRUE(
        model.upsert(testing::apiNamespace(ns, {{"istio.io/dataplane-mode", "ambient"}})).ok());
    ASSERT_TRUE(model.upsert(testing::apiService(ns, "web", {{"app", "web"}}, "10.96.1.1")).ok());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(
          model
              .upsert(apiPod(podSpec(
                  "p" + std::to_string(i), "web",
                  "10." + std::to_string(ns.size() + ns[1]) + ".0." + std::to_string(i), ns)))
              .ok());
    }
  }
  const auto before = model.snapshot();
  for (const auto& w : before.workloads()) EXPECT_TRUE(w.enrolled()) << w.uid();
  model.takeDelta();
  ASSERT_TRUE(model.upsert(testing::apiNamespace("one", {})).ok());
  const MeshDelta d = model.takeDelta();
  EXPECT_EQ(names(d, MeshType::kNamespace), std::vector<std::string>{"one"});
  ASSERT_EQ(d.of(MeshType::kWorkload).upserted.size(), 5u);
  for (const auto& [uid, msg] : d.of(MeshType::kWorkload).upserted) {
    EXPECT_EQ(uid.rfind("uid-one-", 0), 0u) << uid;
    EXPECT_FALSE(static_cast<const v1::Workload&>(*msg).enrolled());
  }
  EXPECT_EQ(d.size(), 6u);
}

TEST(MeshModel, SelectorlessServiceTakesItsEndpointSlicePods) {
  MeshModel model;
  ASSERT_TRUE(model.upsert(testing::apiService("default", "ext", {}, "10.96.0.9")).ok());
  ASSERT_TRUE(
      model.upsert(testing::apiService("default", "sel", {{"app", "web"}}, "10.96.0.8")).ok());
  ASSERT_TRUE(model.upsert(apiPod(podSpec("a", "web", "10.0.0.1"))).ok());
  ASSERT_TRUE(model.upsert(apiPod(podSpec("b", "db", "10.0.0.2"))).ok());
  // Slices of both: the selector-less one takes a and b; the selector wins for the other.
  ASSERT_TRUE(
      model.upsert(testing::apiEndpointSlice("default", "ext-1", "ext", {"a", "b", "c"})).ok());
  ASSERT_TRUE(model.upsert(testing::apiEndpointSlice("default", "sel-1", "sel", {"b"})).ok());
  auto snap = model.snapshot();
  EXPECT_EQ(std::vector<std::string>(findService(snap, "ext")->endpoints().begin(),
                                     findService(snap, "ext")->endpoints().end()),
            (std::vector<std::string>{"uid-default-a", "uid-default-b"}));
  EXPECT_EQ(std::vector<std::string>(findService(snap, "sel")->endpoints().begin(),
                                     findService(snap, "sel")->endpoints().end()),
            std::vector<std::string>{"uid-default-a"});
  model.takeDelta();
  // Pod c arrives later; b goes.
  ASSERT_TRUE(model.upsert(apiPod(podSpec("c", "x", "10.0.0.3"))).ok());
  EXPECT_TRUE(model.remove("Pod", "default", "b"));
  MeshDelta d = model.takeDelta();
  EXPECT_EQ(names(d, MeshType::kService), std::vector<std::string>{"default/ext"});
  snap = model.snapshot();
  EXPECT_EQ(std::vector<std::string>(findService(snap, "ext")->endpoints().begin(),
                                     findService(snap, "ext")->endpoints().end()),
            (std::vector<std::string>{"uid-default-a", "uid-default-c"}));
  EXPECT_TRUE(model.remove("EndpointSlice", "default", "ext-1"));
  snap = model.snapshot();
  EXPECT_EQ(findService(snap, "ext")->endpoints_size(), 0);
}

TEST(MeshModel, WaypointBindingFollowsTheGatewayAndItsPods) {
  MeshModel model;
  ASSERT_TRUE(model
                  .upsert(testing::apiNamespace("default", {{"istio.io/dataplane-mode", "ambient"},
                                                            {"istio.io/use-waypoint", "wp"}}))
                  .ok());
  ASSERT_TRUE(
      model.upsert(testing::apiService("default", "web", {{"app", "web"}}, "10.96.0.1")).ok());
  ASSERT_TRUE(model.upsert(apiPod(podSpec("web-1", "web", "10.0.0.1"))).ok());
  PodSpec wp_pod = podSpec("wp-1", "wp", "10.0.0.50");
  wp_pod.labels["gateway.networking.k8s.io/gateway-name"] = "wp";
  ASSERT_TRUE(model.upsert(apiPod(wp_pod)).ok());
  // No Gateway yet: Istio's default traffic type "service" binds the service only.
  auto snap = model.snapshot();
  EXPECT_EQ(findService(snap, "web")->waypoint(), "default/wp");
  EXPECT_EQ(findWorkload(snap, "uid-default-web-1")->waypoint(), "");
  ASSERT_TRUE(model.upsert(testing::apiWaypoint("default", "wp", "all")).ok());
  snap = model.snapshot();
  EXPECT_EQ(findWorkload(snap, "uid-default-web-1")->waypoint(), "default/wp");
  ASSERT_EQ(snap.waypoints_size(), 1);
  EXPECT_EQ(std::vector<std::string>(snap.waypoints(0).addresses().begin(),
                                     snap.waypoints(0).addresses().end()),
            std::vector<std::string>{"10.0.0.50"});
  model.takeDelta();
  ASSERT_TRUE(model.upsert(testing::apiWaypoint("default", "wp", "workload")).ok());
  const MeshDelta d = model.takeDelta();
  EXPECT_EQ(names(d, MeshType::kService), std::vector<std::string>{"default/web"});
  EXPECT_EQ(names(d, MeshType::kWaypoint), std::vector<std::string>{"default/wp"});
  EXPECT_TRUE(d.of(MeshType::kWorkload).upserted.empty()) << "workload binding unchanged";
  snap = model.snapshot();
  EXPECT_EQ(findService(snap, "web")->waypoint(), "");
  EXPECT_TRUE(model.remove("Pod", "default", "wp-1"));
  EXPECT_EQ(model.snapshot().waypoints(0).addresses_size(), 0);
}

// A relist can deliver a recreated pod (same name, new uid) as an update: the old workload goes,
// the new one comes, and its services follow.
TEST(MeshModel, PodRecreatedUnderANewUidReplacesItsWorkload) {
  MeshModel model;
  ASSERT_TRUE(
      model.upsert(testing::apiService("default", "web", {{"app", "web"}}, "10.96.0.1")).ok());
  ASSERT_TRUE(model.upsert(apiPod(podSpec("web-1", "web", "10.0.0.1"))).ok());
  model.takeDelta();
  PodSpec again = podSpec("web-1", "web", "10.0.0.7");
  again.uid = "uid-recreated";
  ASSERT_TRUE(model.upsert(apiPod(again)).ok());
  const MeshDelta d = model.takeDelta();
  EXPECT_EQ(d.of(MeshType::kWorkload).removed, std::vector<std::string>{"uid-default-web-1"});
  EXPECT_EQ(names(d, MeshType::kWorkload), std::vector<std::string>{"uid-recreated"});
  const auto snap = model.snapshot();
  EXPECT_EQ(std::vector<std::string>(findService(snap, "web")->endpoints().begin(),
                                     findService(snap, "web")->endpoints().end()),
            std::vector<std::string>{"uid-recreated"});
  EXPECT_EQ(servicesOf(snap, "uid-recreated"), std::vector<std::string>{"default/web"});
}

TEST(MeshModel, RouteNameSharedByTwoKindsServesTheFirstStored) {
  MeshModel model;
  ASSERT_TRUE(model.upsert(testing::apiHttpRoute("default", "my-app", "my-app", "v1")).ok());
  ASSERT_TRUE(model.upsert(testing::apiVirtualService("default", "my-app", "my-app", {{"v1", 100}}))
                  .outcome == UpsertOutcome::kPending);
  ASSERT_TRUE(model.upsert(testing::apiDestinationRule("default", "d", "my-app", {"v1"})).ok());
  auto snap = model.snapshot();
  ASSERT_EQ(snap.route_tables_size(), 1);
  EXPECT_EQ(snap.route_tables(0).origin_kind(), "HTTPRoute");
  model.takeDelta();
  EXPECT_TRUE(model.remove("HTTPRoute", "default", "my-app"));
  const MeshDelta d = model.takeDelta();
  ASSERT_EQ(names(d, MeshType::kRouteTable), std::vector<std::string>{"default/my-app"});
  EXPECT_EQ(static_cast<const v1::RouteTable&>(*d.of(MeshType::kRouteTable).upserted[0].second)
                .origin_kind(),
            "VirtualService");
}

}  // namespace
}  // namespace ambit::config
