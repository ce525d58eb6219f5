// Policies against the workloads and services they are meant for: selectors that select
// nothing, targetRefs to missing objects or to Services without a waypoint, and STRICT mTLS on
// workloads that non-mesh pods are allowed to call.
#include <fmt/format.h>

#include <map>
#include <set>

#include "cli/analyze/analyzer.h"
#include "common/rbac/rbac.h"

namespace ambit::cli {
namespace {

constexpr const char* kGatewayName = "gateway.networking.k8s.io/gateway-name";

bool selects(const google::protobuf::Map<std::string, std::string>& selector,
             const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

std::string selectorText(const google::protobuf::Map<std::string, std::string>& selector) {
  std::map<std::string, std::string> sorted(selector.begin(), selector.end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

// Checks a policy's selector: some workload of its namespace (any namespace for the root
// namespace) must carry every label.
void checkSelector(FindingSink& sink, const ObjectRef& object,
                   const google::protobuf::Map<std::string, std::string>& selector) {
  if (selector.empty()) return;
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  const bool root = object.ns == snap.root_namespace();
  for (const auto& w : snap.workloads()) {
    if ((root || w.namespace_() == object.ns) && selects(selector, w.labels())) return;
  }
  sink.addAt(findings::kNoMatchingWorkloadsFound, object, {"spec", "selector"},
             fmt::format("No matching workloads for this resource with the following labels: {} "
                         "(namespace {}): the policy applies to nothing",
                         selectorText(selector), root ? "any" : object.ns),
             "correct spec.selector.matchLabels to the labels of the pods it is meant for");
}

// targetRefs ("Service/my-app", "Gateway/waypoint", "GatewayClass/istio-waypoint").
void checkTargetRefs(FindingSink& sink, const ObjectRef& object,
                     const google::protobuf::RepeatedPtrField<std::string>& refs) {
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  for (const auto& ref : refs) {
    const size_t slash = ref.find('/');
    const std::string kind = ref.substr(0, slash);
    const std::string name = slash == std::string::npos ? "" : ref.substr(slash + 1);
    if (kind == "Service") {
      const v1::Service* svc = nullptr;
      for (const auto& s : snap.services()) {
        if (s.namespace_() == object.ns && s.name() == name) svc = &s;
      }
      if (svc == nullptr) {
        sink.addAt(findings::kReferencedResourceNotFound, object, {"spec", "targetRefs"},
                   fmt::format("Referenced Service not found: \"{}/{}\"", object.ns, name),
                   "target an existing Service of the policy's namespace");
      } else if (svc->waypoint().empty()) {
        sink.addAt(findings::kL7PolicyWithoutWaypoint, object, {"spec", "targetRefs"},
                   fmt::format("Service {}/{} has no waypoint: a policy targeting it is enforced "
                               "only by a waypoint, so it has no effect",
                               object.ns, name),
                   fmt::format("bind the Service to a waypoint (label istio.io/use-waypoint on "
                               "the Service or namespace), or use a selector for L4 rules"));
      }
    } else if (kind == "Gateway") {
      bool found = false;
      for (const auto& w : snap.waypoints())
        found = found || (w.namespace_() == object.ns && w.name() == name);
      if (!found) {
        sink.addAt(findings::kReferencedResourceNotFound, object, {"spec", "targetRefs"},
                   fmt::format("Referenced Gateway not found: \"{}/{}\"", object.ns, name),
                   "target an existing waypoint Gateway of the policy's namespace");
      }
    }
  }
}

}  // namespace

void checkPolicyTargets(FindingSink& sink) {
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  for (const auto& p : snap.authorization_policies()) {
    const ObjectRef object{"AuthorizationPolicy", p.namespace_(), p.name()};
    if (p.target_refs_size() > 0) {
      checkTargetRefs(sink, object, p.target_refs());
    } else {
      checkSelector(sink, object, p.selector());
    }
  }
  for (const auto& p : snap.peer_authentications()) {
    checkSelector(sink, {"PeerAuthentication", p.namespace_(), p.name()}, p.selector());
  }
  for (const auto& p : snap.request_authentications()) {
    const ObjectRef object{"RequestAuthentication", p.namespace_(), p.name()};
    if (p.target_refs_size() > 0) {
      checkTargetRefs(sink, object, p.target_refs());
      continue;
    }
    sink.add(findings::kL7PolicyWithoutWaypoint, object,
             "RequestAuthentication without targetRefs is not enforced: ambit validates JWTs in "
             "the waypoint only, for the Services and Gateways a policy targets",
             "replace the selector with targetRefs naming the Service (kind: Service) or the "
             "waypoint Gateway");
  }
}

namespace {

// Workloads whose port is STRICT while a pod outside the mesh is allowed (by authorization) to
// call it: key (deciding PeerAuthentication, workload uid) -> ports, clients.
using Refusals = std::map<std::pair<std::string, std::string>,
                          std::pair<std::set<uint32_t>, std::set<std::string>>>;

void findRefusals(const rbac::CompiledPolicySet& policies, const v1::Workload& target,
                  uint32_t port, const std::vector<const v1::Workload*>& clients,
                  Refusals& refused) {
  const rbac::Target t{.ns = target.namespace_(), .labels = &target.labels()};
  const rbac::MtlsDecision mtls = policies.mtlsDecision(t, port);
  if (mtls.mode != v1::PeerAuthentication::STRICT) return;
  for (const v1::Workload* c : clients) {
    rbac::Attributes attrs;
    attrs.source_ip = rbac::IpAddress::parse(c->addresses(0)).value_or(rbac::IpAddress{});
    attrs.destination_ip = rbac::IpAddress::parse(target.addresses(0)).value_or(rbac::IpAddress{});
    attrs.destination_port = static_cast<uint16_t>(port);
    if (!policies.evaluate(t, attrs, rbac::Mode::kL4).allowed) continue;  // denied anyway
    auto& entry = refused[{std::string(mtls.policy), target.uid()}];
    entry.first.insert(port);
    entry.second.insert(fmt::format("{}/{} ({})", c->namespace_(), c->name(), c->addresses(0)));
  }
}

}  // namespace

void checkStrictMtls(FindingSink& sink) {
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  std::vector<v1::AuthorizationPolicy> authz(snap.authorization_policies().begin(),
                                             snap.authorization_policies().end());
  std::vector<v1::PeerAuthentication> peer(snap.peer_authentications().begin(),
                                           snap.peer_authentications().end());
  auto compiled = rbac::compile(authz, peer, snap.root_namespace());
  if (!compiled) return;  // the pipeline reported the bad policy
  std::vector<const v1::Workload*> plaintext_clients;
  std::map<std::string, const v1::Workload*> by_uid;
  for (const auto& w : snap.workloads()) {
    by_uid.emplace(w.uid(), &w);
    if (!w.enrolled() && w.labels().count(kGatewayName) == 0 && !w.addresses().empty())
      plaintext_clients.push_back(&w);
  }
  if (plaintext_clients.empty()) return;
  Refusals refused;
  for (const auto& s : snap.services()) {
    for (const auto& uid : s.endpoints()) {
      auto it = by_uid.find(uid);
      if (it == by_uid.end() || !it->second->enrolled() || it->second->addresses().empty())
        continue;
      for (const auto& port : s.ports()) {
        const uint32_t p = port.target_port() ? port.target_port() : port.port();
        findRefusals(**compiled, *it->second, p, plaintext_clients, refused);
      }
    }
  }
  for (const auto& [key, value] : refused) {
    const v1::Workload& target = *by_uid.at(key.second);
    sink.add(findings::kStrictMtlsPlaintextClient, parseObject("PeerAuthentication " + key.first),
             fmt::format("Workload {}/{} accepts only mTLS on port(s) {} (STRICT), but pods "
                         "outside the mesh that its AuthorizationPolicies allow would call it in "
                         "plaintext and be refused: {}",
                         target.namespace_(), target.name(), fmt::join(value.first, ", "),
                         fmt::join(value.second, ", ")),
             "enroll the clients (namespace label istio.io/dataplane-mode=ambient), or set "
             "PERMISSIVE for this workload (a selector or portLevelMtls PeerAuthentication)");
  }
}

}  // namespace ambit::cli
