#include "ztunnel/inbound_policy.h"

namespace ambit::ztunnel {

rbac::Target policyTarget(const Pod& pod, const ZtunnelConfig* config) {
  rbac::Target t;
  t.ns = pod.info.namespace_();
  if (config && config->state) {
    if (const v1::Workload* w = config->state->workloadByUid(pod.info.uid())) {
      t.labels = &w->labels();
    }
  }
  return t;
}

rbac::Decision authorizeInbound(const Pod& pod, const rbac::Attributes& attrs,
                                const ZtunnelConfig* config) {
  if (!config || !config->policies) return rbac::Decision{};
  return config->policies->evaluate(policyTarget(pod, config), attrs, rbac::Mode::kL4);
}

bool plaintextAllowed(const Pod& pod, uint16_t port, const ZtunnelConfig* config) {
  if (!config || !config->policies) return true;
  return config->policies->plaintextAllowed(policyTarget(pod, config), port);
}

}  // namespace ambit::ztunnel
