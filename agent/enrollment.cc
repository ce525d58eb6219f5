#include "agent/enrollment.h"

#include <fmt/format.h>
#include <google/protobuf/util/message_differencer.h>

#include <algorithm>
#include <set>

namespace ambit::agent {

bool EnrolledPod::operator==(const EnrolledPod& o) const {
  return netns_path == o.netns_path &&
         google::protobuf::util::MessageDifferencer::Equals(workload, o.workload);
}

EnrollmentPlan planEnrollment(const v1::MeshSnapshot& snapshot, const std::string& node,
                              NetnsSource source) {
  EnrollmentPlan plan;
  std::map<std::string, std::string> ip_owner;
  for (const auto& w : snapshot.workloads()) {
    if (w.node() != node) continue;
    if (!w.enrolled()) {
      if (!w.netns_path().empty()) plan.outside_netns.push_back(w.netns_path());
      continue;
    }
    std::string id = w.namespace_() + "/" + w.name();
    if (source == NetnsSource::kAnnotation && w.netns_path().empty()) {
      plan.problems.push_back(fmt::format(
          "pod {}: no network namespace (annotation ambit.dev/netns) - not enrolled", id));
      continue;
    }
    if (w.addresses().empty()) {
      if (source == NetnsSource::kResolver) {
        plan.awaiting_ip.push_back(w);
      } else {
        plan.problems.push_back(fmt::format("pod {}: no pod IP (status.podIP) - not enrolled", id));
      }
      continue;
    }
    bool clash = false;
    for (const auto& ip : w.addresses()) {
      auto [it, inserted] = ip_owner.emplace(ip, id);
      if (!inserted) {
        plan.problems.push_back(fmt::format(
            "pod {}: IP {} is already claimed by pod {} - not enrolled", id, ip, it->second));
        clash = true;
      }
    }
    if (clash) continue;
    plan.pods[w.uid()] = EnrolledPod{w, w.netns_path()};
  }
  return plan;
}

NodeConfig planNode(std::shared_ptr<const v1::MeshSnapshot> snapshot, const std::string& node,
                    NetnsSource source) {
  NodeConfig config;
  config.plan = planEnrollment(*snapshot, node, source);
  for (const auto& w : snapshot->workloads()) {
    if (w.node() == node) config.identities.insert(w.namespace_() + "/" + w.service_account());
  }
  config.snapshot = std::move(snapshot);
  return config;
}

namespace {

// What the ztunnel was handed for the pod (it serves a uid once: a change needs delete + add).
bool sameHandoff(const EnrolledPod& a, const EnrolledPod& b) {
  const v1::Workload& x = a.workload;
  const v1::Workload& y = b.workload;
  return a.netns_path == b.netns_path && x.name() == y.name() && x.namespace_() == y.namespace_() &&
         x.service_account() == y.service_account() && x.trust_domain() == y.trust_domain() &&
         x.node() == y.node() &&
         std::equal(x.addresses().begin(), x.addresses().end(), y.addresses().begin(),
                    y.addresses().end());
}

}  // namespace

EnrollmentDiff diffEnrollment(const std::map<std::string, EnrolledPod>& current,
                              const std::map<std::string, EnrolledPod>& desired) {
  EnrollmentDiff d;
  for (const auto& [uid, pod] : current) {
    auto it = desired.find(uid);
    if (it == desired.end() || !sameHandoff(it->second, pod)) d.removed.push_back(uid);
  }
  for (const auto& [uid, pod] : desired) {
    auto it = current.find(uid);
    if (it == current.end() || !sameHandoff(it->second, pod)) {
      d.added.push_back(uid);
    } else if (!(it->second == pod)) {
      d.updated.push_back(uid);
    }
  }
  return d;
}

}  // namespace ambit::agent
