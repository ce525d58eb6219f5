#include "agent/enrollment.h"

#include <fmt/format.h>
#include <google/protobuf/util/message_differencer.h>

#include <set>

namespace ambit::agent {

bool EnrolledPod::operator==(const EnrolledPod& o) const {
  return netns_path == o.netns_path &&
         google::protobuf::util::MessageDifferencer::Equals(workload, o.workload);
}

EnrollmentPlan planEnrollment(const v1::MeshSnapshot& snapshot, const std::string& node) {
  EnrollmentPlan plan;
  std::map<std::string, std::string> ip_owner;
  for (const auto& w : snapshot.workloads()) {
    if (w.node() != node || !w.enrolled()) continue;
    std::string id = w.namespace_() + "/" + w.name();
    if (w.netns_path().empty()) {
      plan.problems.push_back(fmt::format(
          "pod {}: no network namespace (annotation ambit.dev/netns) - not enrolled", id));
      continue;
    }
    if (w.addresses().empty()) {
      plan.problems.push_back(fmt::format("pod {}: no pod IP (status.podIP) - not enrolled", id));
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

EnrollmentDiff diffEnrollment(const std::map<std::string, EnrolledPod>& current,
                              const std::map<std::string, EnrolledPod>& desired) {
  EnrollmentDiff d;
  for (const auto& [uid, pod] : current) {
    auto it = desired.find(uid);
    if (it == desired.end() || !(it->second == pod)) d.removed.push_back(uid);
  }
  for (const auto& [uid, pod] : desired) {
    auto it = current.find(uid);
    if (it == current.end() || !(it->second == pod)) d.added.push_back(uid);
  }
  return d;
}

}  // namespace ambit::agent
