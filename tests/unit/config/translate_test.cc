// Namespace, Pod, Service and waypoint translation; enrollment, binding, hosts, versions.
#include <gtest/gtest.h>

#include "common/config/validators.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using testing::load;
using testing::loadOk;

constexpr const char* kSeedRule = R"(apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata:
  name: my-app
spec:
  host: my-app
  subsets:
  - name: v1
    labels: {version: v1}
  - name: v2
    labels: {version: v2}
)";

TEST(SeedExample, VerbatimVirtualServiceSplits80To20) {
  const auto r = translate({{"vs.yaml", test::seedVirtualService()}, {"dr.yaml", kSeedRule}});
  ASSERT_TRUE(r.ok()) << testing::allErrors(r);
  ASSERT_EQ(r.snapshot.route_tables_size(), 1);
  const auto& t = r.snapshot.route_tables(0);
  EXPECT_EQ(t.namespace_(), "default");
  EXPECT_EQ(t.origin_kind(), "VirtualService");
  ASSERT_EQ(t.hosts_size(), 1);
  EXPECT_EQ(t.hosts(0), "my-app.default.svc.cluster.local");
  ASSERT_EQ(t.http_size(), 1);
  ASSERT_EQ(t.http(0).destinations_size(), 2);
  EXPECT_EQ(t.http(0).destinations(0).host(), "my-app.default.svc.cluster.local");
  EXPECT_EQ(t.http(0).destinations(0).subset(), "v1");
  EXPECT_EQ(t.http(0).destinations(0).weight(), 80u);
  EXPECT_EQ(t.http(0).destinations(1).subset(), "v2");
  EXPECT_EQ(t.http(0).destinations(1).weight(), 20u);
  ASSERT_EQ(r.snapshot.destination_policies_size(), 1);
  EXPECT_EQ(r.snapshot.destination_policies(0).host(), "my-app.default.svc.cluster.local");
  EXPECT_EQ(r.snapshot.destination_policies(0).subsets(1).labels().at("version"), "v2");
}

TEST(SeedExample, WithoutDestinationRuleTheSubsetsAreReported) {
  const auto r = load(test::seedVirtualService(), "vs.yaml");
  ASSERT_EQ(r.errors.size(), 2u) << testing::allErrors(r);
  EXPECT_EQ(r.errors[0].toString(),
            "vs.yaml:12: VirtualService default/my-app: subset 'v1' of host "
            "my-app.default.svc.cluster.local is not defined by any DestinationRule");
  EXPECT_EQ(r.snapshot.route_tables_size(), 0) << "a bad file contributes nothing";
}

constexpr const char* kTopology = R"(apiVersion: v1
kind: Namespace
metadata:
  name: demo
  labels:
    istio.io/dataplane-mode: ambient
    istio.io/use-waypoint: demo-waypoint
---
apiVersion: v1
kind: Namespace
metadata:
  name: plain
---
apiVersion: v1
kind: Pod
metadata:
  name: my-app-v1-abc
  namespace: demo
  labels: {app: my-app, version: v1}
  annotations:
    ambit.dev/netns: /run/netns/lab-pod-1
    ambit.dev/bypass-inbound-ports: "8080, 9090"
    ambit.dev/bypass-outbound-cidrs: "169.254.0.0/16"
spec:
  nodeName: node-1
  serviceAccountName: my-app
  containers:
  - name: app
    image: sample
status:
  podIP: 10.1.0.5
  podIPs:
  - ip: 10.1.0.5
  - ip: fd00::5
---
apiVersion: v1
kind: Pod
metadata:
  name: opted-out
  namespace: demo
  labels:
    app: my-app
    istio.io/dataplane-mode: none
    service.istio.io/canonical-name: legacy
    service.istio.io/canonical-revision: r7
status:
  podIP: 10.1.0.6
---
apiVersion: v1
kind: Pod
metadata:
  name: other
  namespace: plain
  labels: {app.kubernetes.io/name: other, app.kubernetes.io/version: "2.0"}
status:
  podIP: 10.1.0.7
---
apiVersion: v1
kind: Pod
metadata:
  name: bare
  namespace: plain
---
apiVersion: v1
kind: Service
metadata:
  name: my-app
  namespace: demo
spec:
  selector: {app: my-app}
  clusterIP: 10.96.0.10
  ports:
  - name: http
    port: 80
    targetPort: 8080
    appProtocol: http
  - name: grpc
    port: 9000
    targetPort: grpc-port
---
apiVersion: v1
kind: Service
metadata:
  name: direct
  namespace: demo
  labels: {istio.io/use-waypoint: none}
spec:
  clusterIPs: [10.96.0.11, "fd00:96::11"]
  ports: [{port: 443}]
---
apiVersion: v1
kind: Service
metadata:
  name: special
  namespace: plain
  labels: {istio.io/use-waypoint: special-wp}
spec:
  selector: {app.kubernetes.io/name: other}
  ports: [{port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: demo-waypoint
  namespace: demo
spec:
  gatewayClassName: istio-waypoint
  listeners:
  - name: mesh
    port: 15008
    protocol: HBONE
status:
  addresses:
  - type: IPAddress
    value: 10.1.0.100
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: Gateway
metadata:
  name: ingress
  namespace: demo
spec:
  gatewayClassName: nginx
  whatever: {ignored: true}
)";

const v1::Workload& workload(const v1::MeshSnapshot& s, const std::string& uid) {
  for (const auto& w : s.workloads()) {
    if (w.uid() == uid) return w;
  }
  ADD_FAILURE() << "no workload " << uid;
  return v1::Workload::default_instance();
}

const v1::Service& service(const v1::MeshSnapshot& s, const std::string& name) {
  for (const auto& svc : s.services()) {
    if (svc.name() == name) return svc;
  }
  ADD_FAILURE() << "no service " << name;
  return v1::Service::default_instance();
}

TEST(Topology, NamespacesCarryEnrollmentAndWaypoint) {
  const auto s = loadOk(kTopology);
  ASSERT_EQ(s.namespaces_size(), 2);
  EXPECT_EQ(s.namespaces(0).name(), "demo");
  EXPECT_TRUE(s.namespaces(0).ambient());
  EXPECT_EQ(s.namespaces(0).waypoint(), "demo/demo-waypoint");
  EXPECT_FALSE(s.namespaces(1).ambient());
  EXPECT_EQ(s.trust_domain(), "cluster.local");
  EXPECT_EQ(s.root_namespace(), "istio-system");
}

TEST(Topology, PodBecomesWorkloadWithIdentityAddressesAndAnnotations) {
  const auto s = loadOk(kTopology);
  const auto& w = workload(s, "demo/my-app-v1-abc");
  EXPECT_EQ(w.name(), "my-app-v1-abc");
  EXPECT_EQ(w.namespace_(), "demo");
  EXPECT_EQ(w.node(), "node-1");
  EXPECT_EQ(w.service_account(), "my-app");
  EXPECT_EQ(w.trust_domain(), "cluster.local");
  ASSERT_EQ(w.addresses_size(), 2);
  EXPECT_EQ(w.addresses(0), "10.1.0.5");
  EXPECT_EQ(w.addresses(1), "fd00::5");
  EXPECT_EQ(w.netns_path(), "/run/netns/lab-pod-1");
  ASSERT_EQ(w.bypass_inbound_ports_size(), 2);
  EXPECT_EQ(w.bypass_inbound_ports(0), 8080u);
  EXPECT_EQ(w.bypass_inbound_ports(1), 9090u);
  ASSERT_EQ(w.bypass_outbound_cidrs_size(), 1);
  EXPECT_EQ(w.bypass_outbound_cidrs(0), "169.254.0.0/16");
  EXPECT_EQ(w.canonical_name(), "my-app");
  EXPECT_EQ(w.canonical_revision(), "v1");
  EXPECT_EQ(w.labels().at("version"), "v1");
}

TEST(Topology, CanonicalNamesFollowIstioPrecedence) {
  const auto s = loadOk(kTopology);
  EXPECT_EQ(workload(s, "demo/opted-out").canonical_name(), "legacy");
  EXPECT_EQ(workload(s, "demo/opted-out").canonical_revision(), "r7");
  EXPECT_EQ(workload(s, "plain/other").canonical_name(), "other");
  EXPECT_EQ(workload(s, "plain/other").canonical_revision(), "2.0");
  EXPECT_EQ(workload(s, "plain/bare").canonical_name(), "bare");
  EXPECT_EQ(workload(s, "plain/bare").canonical_revision(), "latest");
  EXPECT_EQ(workload(s, "plain/bare").service_account(), "default");
}

TEST(Topology, EnrollmentFollowsNamespaceLabelAndPodOptOut) {
  const auto s = loadOk(kTopology);
  EXPECT_TRUE(workload(s, "demo/my-app-v1-abc").enrolled());
  EXPECT_FALSE(workload(s, "demo/opted-out").enrolled());
  EXPECT_FALSE(workload(s, "plain/other").enrolled());
}

TEST(Topology, PodLabelAmbientEnrollsOutsideAnAmbientNamespace) {
  const auto s = loadOk(R"(apiVersion: v1
kind: Pod
metadata: {name: p, labels: {istio.io/dataplane-mode: ambient}}
)");
  EXPECT_TRUE(workload(s, "default/p").enrolled());
}

TEST(Topology, ServiceSelectsEndpointsEnrolledOrNot) {
  const auto s = loadOk(kTopology);
  const auto& svc = service(s, "my-app");
  EXPECT_EQ(svc.hostname(), "my-app.demo.svc.cluster.local");
  ASSERT_EQ(svc.vips_size(), 1);
  EXPECT_EQ(svc.vips(0), "10.96.0.10");
  ASSERT_EQ(svc.endpoints_size(), 2);
  EXPECT_EQ(svc.endpoints(0), "demo/my-app-v1-abc");
  EXPECT_EQ(svc.endpoints(1), "demo/opted-out");
  ASSERT_EQ(svc.ports_size(), 2);
  EXPECT_EQ(svc.ports(0).port(), 80u);
  EXPECT_EQ(svc.ports(0).target_port(), 8080u);
  EXPECT_EQ(svc.ports(0).app_protocol(), "http");
  EXPECT_EQ(svc.ports(0).protocol(), "TCP");
  EXPECT_EQ(svc.ports(1).target_port(), 0u);
  EXPECT_EQ(svc.ports(1).target_port_name(), "grpc-port");
  EXPECT_EQ(service(s, "direct").ports(0).target_port(), 443u) << "targetPort defaults to port";
  EXPECT_EQ(service(s, "direct").vips_size(), 2);
  EXPECT_EQ(service(s, "direct").endpoints_size(), 0) << "no selector, no endpoints";
  ASSERT_EQ(service(s, "special").endpoints_size(), 1);
  EXPECT_EQ(service(s, "special").endpoints(0), "plain/other") << "same namespace only";
}

TEST(Topology, WaypointBindingServiceLabelWinsAndNoneOptsOut) {
  const auto s = loadOk(kTopology);
  EXPECT_EQ(service(s, "my-app").waypoint(), "demo/demo-waypoint") << "from namespace";
  EXPECT_EQ(service(s, "direct").waypoint(), "") << "use-waypoint: none";
  EXPECT_EQ(service(s, "special").waypoint(), "plain/special-wp") << "service label";
  EXPECT_EQ(workload(s, "demo/my-app-v1-abc").waypoint(), "")
      << "a service waypoint does not capture workload-addressed traffic";
}

TEST(Topology, WaypointGatewayTranslatedAndOtherClassesIgnored) {
  const auto s = loadOk(kTopology);
  ASSERT_EQ(s.waypoints_size(), 1);
  const auto& wp = s.waypoints(0);
  EXPECT_EQ(wp.name(), "demo-waypoint");
  EXPECT_EQ(wp.namespace_(), "demo");
  EXPECT_EQ(wp.gateway_class(), "istio-waypoint");
  EXPECT_EQ(wp.hbone_port(), 15008u);
  EXPECT_EQ(wp.traffic_type(), "service");
  EXPECT_EQ(wp.service_account(), "demo-waypoint");
  ASSERT_EQ(wp.addresses_size(), 1);
  EXPECT_EQ(wp.addresses(0), "10.1.0.100");
}

TEST(Topology, WorkloadWaypointForAllBindsPods) {
  const auto s = loadOk(R"(apiVersion: v1
kind: Namespace
metadata:
  name: ns
  labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: wp}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: ns, labels: {istio.io/waypoint-for: all}}
spec: {gatewayClassName: ambit-waypoint}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ns}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: ns, labels: {istio.io/use-waypoint: other}}
)");
  EXPECT_EQ(s.waypoints(0).addresses_size(), 0) << "no status, no labelled pod";
  EXPECT_EQ(workload(s, "ns/a").waypoint(), "ns/wp");
  EXPECT_EQ(workload(s, "ns/b").waypoint(), "ns/other");
}

TEST(Topology, WaypointAddressesComeFromItsPodsWithoutStatus) {
  const auto s = loadOk(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: ns}
spec: {gatewayClassName: istio-waypoint}
---
apiVersion: v1
kind: Pod
metadata:
  name: wp-7d9f
  namespace: ns
  labels: {gateway.networking.k8s.io/gateway-name: wp}
status: {podIP: 10.2.0.9}
)");
  ASSERT_EQ(s.waypoints(0).addresses_size(), 1);
  EXPECT_EQ(s.waypoints(0).addresses(0), "10.2.0.9");
}

TEST(Options, TrustDomainAndRootNamespaceAreConfigurable) {
  LoaderOptions o;
  o.trust_domain = "example.org";
  o.root_namespace = "mesh-root";
  const auto s = loadOk(R"(apiVersion: v1
kind: Pod
metadata: {name: p}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: global, namespace: mesh-root}
spec: {}
)",
                        o);
  EXPECT_EQ(s.trust_domain(), "example.org");
  EXPECT_EQ(s.workloads(0).trust_domain(), "example.org");
  EXPECT_EQ(s.authorization_policies(0).scope(), v1::AuthorizationPolicy::GLOBAL);
}

TEST(Hosts, ShortNamesResolveAgainstTheResourceNamespace) {
  EXPECT_EQ(resolveHost("my-app", "default", "cluster.local"), "my-app.default.svc.cluster.local");
  EXPECT_EQ(resolveHost("my-app.other", "default", "cluster.local"),
            "my-app.other.svc.cluster.local");
  EXPECT_EQ(resolveHost("my-app.other.svc.cluster.local", "default", "cluster.local"),
            "my-app.other.svc.cluster.local");
  EXPECT_EQ(resolveHost("api.example.com", "default", "cluster.local"), "api.example.com");
  EXPECT_EQ(resolveHost("*.example.com", "default", "cluster.local"), "*.example.com");
}

TEST(Version, ContentHashIsStableAndChangesWithContent) {
  const auto a = translate({{"vs.yaml", test::seedVirtualService()}, {"dr.yaml", kSeedRule}});
  const auto b = translate({{"vs.yaml", test::seedVirtualService()}, {"dr.yaml", kSeedRule}});
  const auto c = translate(
      {{"vs.yaml", test::seedVirtualService()}, {"dr.yaml", std::string(kSeedRule) + "\n"}});
  EXPECT_EQ(a.snapshot.version().size(), 16u);
  EXPECT_EQ(a.snapshot.version(), b.snapshot.version());
  EXPECT_NE(a.snapshot.version(), c.snapshot.version());
}

TEST(Files, MultiDocumentAndRecursiveDirectoryLoad) {
  test::TempDir dir;
  dir.write("routes/vs.yaml", test::seedVirtualService());
  dir.write("rules/deep/dr.yml", kSeedRule);
  dir.write("README.md", "not yaml: [");
  dir.write(".hidden/bad.yaml", "kind: [");
  const auto r = loadConfigDir(dir.path());
  ASSERT_TRUE(r.ok()) << testing::allErrors(r);
  EXPECT_EQ(r.resource_count, 2u);
  EXPECT_EQ(r.snapshot.route_tables_size(), 1);
}

TEST(Files, BadFileIsRejectedAsAWholeOthersStillLoad) {
  const auto r = translate({{"good.yaml", kSeedRule}, {"bad.yaml", R"(apiVersion: v1
kind: Service
metadata: {name: fine}
---
apiVersion: v1
kind: Service
metadata: {name: broken}
spec: {ports: [{port: 99999}]}
)"}});
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.snapshot.destination_policies_size(), 1);
  EXPECT_EQ(r.snapshot.services_size(), 0) << "'fine' shares the bad file";
}

TEST(Samples, AmbientDemoLoadsCleanly) {
  const auto r = loadConfigDir(AMBIT_SOURCE_DIR "/deploy/samples/ambient-demo");
  ASSERT_TRUE(r.ok()) << testing::allErrors(r);
  const auto& s = r.snapshot;
  EXPECT_EQ(workload(s, "demo/client").enrolled(), true);
  EXPECT_EQ(workload(s, "demo/demo-waypoint").enrolled(), false);
  EXPECT_EQ(service(s, "my-app").endpoints_size(), 2);
  EXPECT_EQ(service(s, "my-app").waypoint(), "demo/demo-waypoint");
  ASSERT_EQ(s.route_tables_size(), 2);
  EXPECT_EQ(s.route_tables(0).http(0).destinations(0).weight(), 80u);
  EXPECT_EQ(s.route_tables(1).hosts(0), "my-app.demo.svc.cluster.local");
  EXPECT_TRUE(s.peer_authentications(0).mesh_wide());
}

}  // namespace
}  // namespace ambit::config
