#pragma once
// The small mesh the waypoint's unit tests and route micro-benchmarks share: Service my-app
// (10.96.0.10:80 -> 8080) with endpoints my-app-v1 (127.0.0.2), my-app-v1b (127.0.0.4)
// labelled version v1 and my-app-v2 (127.0.0.3) labelled v2, a client pod, a DestinationRule
// with subsets v1/v2 and per-version Services my-app-v1 / my-app-v2 (HTTPRoute backendRefs).

namespace ambit::testdata {

inline constexpr char kMeshYaml[] = R"(
apiVersion: v1
kind: Namespace
metadata: {name: default, labels: {istio.io/dataplane-mode: ambient}}
---
apiVersion: v1
kind: Pod
metadata: {name: my-app-v1, namespace: default, labels: {app: my-app, version: v1}}
spec: {nodeName: node1, serviceAccountName: my-app}
status: {podIP: 127.0.0.2}
---
apiVersion: v1
kind: Pod
metadata: {name: my-app-v1b, namespace: default, labels: {app: my-app, version: v1}}
spec: {nodeName: node1, serviceAccountName: my-app}
status: {podIP: 127.0.0.4}
---
apiVersion: v1
kind: Pod
metadata: {name: my-app-v2, namespace: default, labels: {app: my-app, version: v2}}
spec: {nodeName: node2, serviceAccountName: my-app}
status: {podIP: 127.0.0.3}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: default, labels: {app: client}}
spec: {nodeName: node1, serviceAccountName: client}
status: {podIP: 10.1.2.3}
---
apiVersion: v1
kind: Service
metadata: {name: my-app, namespace: default}
spec:
  selector: {app: my-app}
  clusterIP: 10.96.0.10
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: my-app-v1, namespace: default}
spec:
  selector: {app: my-app, version: v1}
  clusterIP: 10.96.0.20
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: my-app-v2, namespace: default}
spec:
  selector: {app: my-app, version: v2}
  clusterIP: 10.96.0.21
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: my-app, namespace: default}
spec:
  host: my-app
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
)";

}  // namespace ambit::testdata
