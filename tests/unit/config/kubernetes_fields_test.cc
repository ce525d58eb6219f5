// translate() with what objects from a Kubernetes API server carry: metadata.uid as the
// workload uid, completed pods, EndpointSlices of selector-less Services, Hostname addresses in a
// Gateway's status.
#include <gtest/gtest.h>

#include "tests/unit/config/test_util.h"

namespace ambit::config {
namespace {

using testing::allErrors;
using testing::load;
using testing::loadOk;

TEST(KubernetesFields, WorkloadUidIsMetadataUidWhenPresent) {
  const auto s = loadOk(R"(apiVersion: v1
kind: Pod
metadata: {name: a, namespace: demo, uid: 6f1c0d9e-1b7a-4c4e-9d1e-0a1b2c3d4e5f}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: demo}
status: {podIP: 10.0.0.2}
)");
  ASSERT_EQ(s.workloads_size(), 2);
  EXPECT_EQ(s.workloads(0).uid(), "6f1c0d9e-1b7a-4c4e-9d1e-0a1b2c3d4e5f");
  EXPECT_EQ(s.workloads(1).uid(), "demo/b");
}

TEST(KubernetesFields, CompletedPodsAreNoWorkloadsAndFreeTheirIp) {
  const auto s = loadOk(R"(apiVersion: v1
kind: Pod
metadata: {name: job-1, namespace: demo}
status: {phase: Succeeded, podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: job-2, namespace: demo}
status: {phase: Failed, podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: demo}
status: {phase: Running, podIP: 10.0.0.1}
)");
  ASSERT_EQ(s.workloads_size(), 1);
  EXPECT_EQ(s.workloads(0).name(), "web");
}

constexpr const char* kSlices = R"(apiVersion: v1
kind: Service
metadata: {name: ext, namespace: demo}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: sel, namespace: demo}
spec: {selector: {app: web}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: demo, labels: {app: web}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: demo, labels: {app: db}}
status: {podIP: 10.0.0.2}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-abc
  namespace: demo
  labels: {kubernetes.io/service-name: ext, endpointslice.kubernetes.io/managed-by: user}
addressType: IPv4
endpoints:
- addresses: [10.0.0.2]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: b, namespace: demo}
- addresses: [10.0.0.1]
  targetRef: {kind: Pod, name: a}
- addresses: [192.0.2.1]
- addresses: [10.0.0.9]
  targetRef: {kind: Pod, name: not-there}
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: sel-abc
  namespace: demo
  labels: {kubernetes.io/service-name: sel}
addressType: IPv4
endpoints:
- addresses: [10.0.0.2]
  targetRef: {kind: Pod, name: b}
)";

TEST(KubernetesFields, SelectorlessServiceTakesItsEndpointSlicePods) {
  const auto s = loadOk(kSlices);
  ASSERT_EQ(s.services_size(), 2);
  EXPECT_EQ(
      std::vector<std::string>(s.services(0).endpoints().begin(), s.services(0).endpoints().end()),
      (std::vector<std::string>{"demo/b", "demo/a"}));
  EXPECT_EQ(
      std::vector<std::string>(s.services(1).endpoints().begin(), s.services(1).endpoints().end()),
      std::vector<std::string>{"demo/a"})
      << "a selector wins over slices, as in Istio ambient";
}

TEST(KubernetesFields, BadEndpointSliceIsReportedWithItsField) {
  const auto r = load(R"(apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: x, namespace: demo, labels: {kubernetes.io/service-name: ext}}
addressType: IPv5
endpoints:
- addresses: [10.0.0.2]
  targetRef: {kind: Pod}
  zoen: a
spec: {}
)");
  const std::string errors = allErrors(r);
  EXPECT_NE(errors.find("t.yaml:4: EndpointSlice demo/x: addressType: unknown type 'IPv5'"),
            std::string::npos)
      << errors;
  EXPECT_NE(errors.find("missing required field endpoints[0].targetRef.name"), std::string::npos)
      << errors;
  EXPECT_NE(errors.find("unknown field endpoints[0].zoen"), std::string::npos) << errors;
  EXPECT_NE(errors.find("unknown field spec"), std::string::npos) << errors;
}

// A Pod as a v1.37 kubelet reports it (the real node of tests/k8s/node_chart_test.py): pod-level
// status.resources and status.allocatedResources are PodStatus fields, not typos.
TEST(KubernetesFields, PodStatusOfARecentKubeletIsAccepted) {
  const auto s = loadOk(R"(apiVersion: v1
kind: Pod
metadata: {name: app, namespace: demo, uid: 0b4f}
spec:
  nodeName: n1
  containers: [{name: app, image: app}]
  workloadRef: {name: w}
status:
  phase: Running
  podIP: 10.244.0.3
  allocatedResources: {cpu: 10m, memory: 16Mi}
  resources: {requests: {cpu: 10m}, limits: {memory: 64Mi}}
  volumeHealth: []
)");
  ASSERT_EQ(s.workloads_size(), 1);
  EXPECT_EQ(std::vector<std::string>(s.workloads(0).addresses().begin(),
                                     s.workloads(0).addresses().end()),
            std::vector<std::string>{"10.244.0.3"});
}

TEST(KubernetesFields, GatewayHostnameAddressesAreNotIps) {
  const auto s = loadOk(R"(apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: wp, namespace: demo}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
status:
  addresses:
  - {type: Hostname, value: wp.demo.svc.cluster.local}
  - {type: IPAddress, value: 10.96.5.5}
  - {value: 10.96.5.6}
)");
  ASSERT_EQ(s.waypoints_size(), 1);
  EXPECT_EQ(std::vector<std::string>(s.waypoints(0).addresses().begin(),
                                     s.waypoints(0).addresses().end()),
            (std::vector<std::string>{"10.96.5.5", "10.96.5.6"}));
}

}  // namespace
}  // namespace ambit::config
