#pragma once
// Policies the ztunnel tests apply on top of the tests' mesh (harness.h).

#include <string>

namespace ambit::ztunnel::testing {

// An AuthorizationPolicy denying connections from `source` (a YAML flow map of
// AuthorizationPolicy source fields) to the my-app pods.
inline std::string denyToMyApp(const std::string& name, const std::string& source) {
  return "apiVersion: security.istio.io/v1\n"
         "kind: AuthorizationPolicy\n"
         "metadata: {name: " +
         name +
         ", namespace: default}\n"
         "spec:\n"
         "  selector: {matchLabels: {app: my-app}}\n"
         "  action: DENY\n"
         "  rules: [{from: [{source: " +
         source + "}]}]\n";
}

inline const std::string kDenyClientYaml =
    denyToMyApp("deny-client", "{principals: [cluster.local/ns/default/sa/client]}");
inline const std::string kDenyLoopbackYaml =
    denyToMyApp("deny-loopback", "{ipBlocks: [127.0.0.0/8]}");

// mTLS required in namespace default: plaintext is refused.
inline constexpr char kStrictYaml[] = R"(
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: strict, namespace: default}
spec: {mtls: {mode: STRICT}}
)";

}  // namespace ambit::ztunnel::testing
