#pragma once
// Policies the ztunnel tests apply on top of kMeshYaml.

namespace ambit::ztunnel::testing {

// DENY connections from the client's identity to the server pods.
inline constexpr char kDenyClientYaml[] = R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-client, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  action: DENY
  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/client]}}]}]
)";

// DENY connections from loopback sources to the server pods.
inline constexpr char kDenyLoopbackYaml[] = R"(
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-loopback, namespace: default}
spec:
  selector: {matchLabels: {app: server}}
  action: DENY
  rules: [{from: [{source: {ipBlocks: [127.0.0.0/8]}}]}]
)";

// mTLS required in namespace default: plaintext is refused.
inline constexpr char kStrictYaml[] = R"(
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: default}
spec: {mtls: {mode: STRICT}}
)";

}  // namespace ambit::ztunnel::testing
