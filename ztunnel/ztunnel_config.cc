#include "ztunnel/ztunnel_config.h"

#include <vector>

namespace ambit::ztunnel {

Result<ZtunnelConfig> prepareConfig(std::shared_ptr<const v1::MeshSnapshot> s) {
  if (!s) return makeError("no snapshot");
  std::vector<v1::AuthorizationPolicy> authz(s->authorization_policies().begin(),
                                             s->authorization_policies().end());
  std::vector<v1::PeerAuthentication> peer(s->peer_authentications().begin(),
                                           s->peer_authentications().end());
  auto compiled = rbac::compile(authz, peer,
                                s->root_namespace().empty() ? "istio-system" : s->root_namespace());
  if (!compiled) return compiled.error().context("policies rejected");
  ZtunnelConfig config;
  config.version = s->version();
  config.policies = std::move(*compiled);
  config.state = std::make_shared<const MeshState>(std::move(s));
  return config;
}

}  // namespace ambit::ztunnel
