#include "agent/kube_pod_netns.h"

#include <time.h>

#include <set>

#include "common/log.h"

namespace ambit::agent {

namespace {

std::string who(const v1::Workload& w) { return w.namespace_() + "/" + w.name(); }

}  // namespace

std::chrono::nanoseconds boottimeNow() {
  timespec ts{};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

KubePodNetns::KubePodNetns(const NodePodSource& pods, const PodCgroupLocator& cgroups,
                           PodNetnsFinder& finder, prometheus::Registry& registry,
                           CaptureChangeFn on_change, Clock now, PodCgroupMarker* marker)
    : pods_(pods),
      cgroups_(cgroups),
      finder_(finder),
      on_change_(std::move(on_change)),
      now_(std::move(now)),
      marker_(marker),
      latency_(&prometheus::BuildHistogram()
                    .Name("ambit_agent_pod_enroll_seconds")
                    .Help("Time from a pod's first process starting to its traffic being "
                          "captured (Kubernetes mode)")
                    .Register(registry)
                    .Add({}, prometheus::Histogram::BucketBoundaries{
                                 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60})) {}

std::optional<std::string> KubePodNetns::excluded(const EnrolledPod& pod) {
  auto p = pods_.pod(pod.workload.uid());
  if (p && p->host_network) {
    return std::string(
        "spec.hostNetwork: the pod shares the node's network namespace, capturing it would "
        "capture the node");
  }
  return std::nullopt;
}

Result<std::optional<UniqueFd>> KubePodNetns::resolve(const EnrolledPod& pod) {
  const v1::Workload& w = pod.workload;
  auto p = pods_.pod(w.uid());
  if (!p) return std::optional<UniqueFd>();  // the node watch has not seen it yet
  auto dir = cgroups_.locate(w.uid(), p->qos);
  if (!dir) return dir.error();
  if (!*dir) return std::optional<UniqueFd>();  // the kubelet has not created it yet
  markCgroup(w, **dir);
  std::vector<bpf::IpAddr> ips;
  for (const auto& text : w.addresses()) {
    auto ip = bpf::IpAddr::parse(text);
    if (!ip) return ip.error().context("pod IP");
    ips.push_back(*ip);
  }
  auto found = finder_.find(**dir, ips);
  if (!found) return found.error();
  if (!*found) return std::optional<UniqueFd>();  // no process in it yet
  auto& f = **found;
  if (!found_.count(w.uid())) {
    logInfo("pod {}: network namespace of pid {} (cookie {}) in {}", who(w), f.pid, f.cookie,
            **dir);
  }
  auto& entry = found_[w.uid()];
  if (entry.pid == 0) entry.first_process_start = f.first_process_start;
  entry.pid = f.pid;
  entry.name_space = w.namespace_();
  entry.name = w.name();
  return std::optional<UniqueFd>(std::move(f.netns));
}

bool KubePodNetns::hold(const v1::Workload& w) {
  if (marker_ == nullptr || marked_.count(w.uid())) return true;
  auto p = pods_.pod(w.uid());
  if (!p) return false;              // the node watch has not seen it yet
  if (p->host_network) return true;  // never captured (excluded())
  auto dir = cgroups_.locate(w.uid(), p->qos);
  if (!dir) {
    logWarn("pod {}: cannot hold its connects until it is enrolled: {}", who(w),
            dir.error().message);
    return true;  // the next reconcile (resolve()) tries again; no hot retry
  }
  if (!*dir) return false;  // the kubelet has not created it yet
  markCgroup(w, **dir);
  return true;
}

void KubePodNetns::captured(const v1::Workload& w) {
  auto it = found_.find(w.uid());
  if (it != found_.end() && it->second.first_process_start.count() > 0) {
    auto elapsed = now_() - it->second.first_process_start;
    double seconds = std::chrono::duration<double>(elapsed).count();
    if (seconds >= 0) {
      latency_->Observe(seconds);
      logInfo("pod {}: captured {:.3f} s after its first process started", who(w), seconds);
    }
    it->second.first_process_start = std::chrono::nanoseconds(0);  // measured once
  }
  if (on_change_) on_change_(w.uid(), w.namespace_(), w.name(), true);
}

void KubePodNetns::markCgroup(const v1::Workload& w, const std::string& dir) {
  if (marker_ == nullptr || marked_.count(w.uid())) return;
  auto id = marker_->cgroupId(dir);
  Status st = id ? marker_->mark(*id) : Status(id.error());
  if (!st) {  // retried on the next resolve; enrollment goes on regardless
    logWarn("pod {}: cannot hold its connects until it is enrolled: {}", who(w), st.message());
    return;
  }
  marked_[w.uid()] = *id;
  logInfo("pod {}: connects refused until it is enrolled (cgroup {} id {})", who(w), dir, *id);
}

void KubePodNetns::released(const std::string& uid) {
  if (auto m = marked_.find(uid); m != marked_.end()) {
    if (Status st = marker_->unmark(m->second); !st) logWarn("pod {}: {}", uid, st.message());
    marked_.erase(m);
  }
  auto it = found_.find(uid);
  if (it == found_.end()) return;
  Found f = std::move(it->second);
  found_.erase(it);
  if (on_change_) on_change_(uid, f.name_space, f.name, false);
}

void KubePodNetns::adopted() {
  if (marker_ == nullptr) return;
  auto ids = marker_->marked();
  if (!ids) {
    logWarn("fail-closed marks left by a previous agent: {}", ids.error().message);
    return;
  }
  std::set<uint64_t> ours;
  for (const auto& [uid, id] : marked_) ours.insert(id);
  for (uint64_t id : *ids) {
    if (ours.count(id)) continue;
    logInfo("removing the fail-closed mark of cgroup id {} (pod not in the mesh any more)", id);
    if (Status st = marker_->unmark(id); !st) logWarn("{}", st.message());
  }
}

Result<std::vector<uint64_t>> DatapathPodCgroupMarker::marked() {
  auto entries = datapath_.markedPodCgroups();
  AMBIT_TRY(entries);
  std::vector<uint64_t> ids;
  for (const auto& [id, refused] : *entries) ids.push_back(id);
  return ids;
}

pid_t KubePodNetns::pidOf(const std::string& uid) const {
  auto it = found_.find(uid);
  return it == found_.end() ? 0 : it->second.pid;
}

}  // namespace ambit::agent
