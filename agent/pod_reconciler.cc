#include "agent/pod_reconciler.h"

#include <algorithm>

#include "common/log.h"

namespace ambit::agent {

namespace {

Result<bpf::NetnsConfig> netnsConfig(const v1::Workload& w) {
  bpf::NetnsConfig cfg;
  for (const auto& text : w.bypass_outbound_cidrs()) {
    auto cidr = bpf::Cidr::parse(text);
    if (!cidr) return cidr.error().context("bypass outbound CIDR");
    cfg.bypass_cidrs.push_back(*cidr);
  }
  return cfg;
}

}  // namespace

PodReconciler::PodReconciler(PodCapture& capture, PodNetns& netns, PodHandoff& handoff,
                             std::vector<bpf::IpAddr> probe_sources, NetnsResolver* resolver)
    : capture_(capture),
      netns_(netns),
      handoff_(handoff),
      annotation_resolver_(netns),
      resolver_(resolver != nullptr ? *resolver : annotation_resolver_),
      probe_sources_(std::move(probe_sources)) {}

std::string PodReconciler::podId(const std::string& uid) {
  // Kubernetes names are DNS labels/subdomains ([a-z0-9.-]) and never contain '_', so
  // mapping both '/' and '.' to '_' is unambiguous; bpffs refuses '.' in names.
  std::string id = uid;
  std::replace(id.begin(), id.end(), '/', '_');
  std::replace(id.begin(), id.end(), '.', '_');
  return id;
}

std::vector<std::string> PodReconciler::reconcile(const EnrollmentPlan& plan) {
  std::vector<std::string> problems = plan.problems;
  std::map<std::string, EnrolledPod> current;
  for (const auto& [uid, a] : applied_) current.emplace(uid, a.pod);
  EnrollmentDiff diff = diffEnrollment(current, plan.pods);
  for (const auto& uid : diff.removed) {
    if (Status st = remove(uid); !st) problems.push_back(st.message());
  }
  std::set<std::string> awaiting;
  for (const auto& w : plan.awaiting_ip) awaiting.insert(w.uid());
  auto stays = [&](const std::string& uid) { return plan.pods.count(uid) || awaiting.count(uid); };
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (stays(*it)) {
      ++it;
    } else {
      resolver_.released(*it);
      it = pending_.erase(it);
    }
  }
  for (auto it = held_.begin(); it != held_.end();) {
    if (!stays(*it)) resolver_.released(*it);  // gone before it had an IP
    // Enrolled now (the hold goes on until capture) or gone: no longer ours to hold.
    it = awaiting.count(*it) ? std::next(it) : held_.erase(it);
  }
  for (const auto& w : plan.awaiting_ip) {
    held_.insert(w.uid());
    if (resolver_.hold(w)) {
      pending_.erase(w.uid());
    } else if (pending_.insert(w.uid()).second) {
      logInfo("pod {}/{}: waiting for its cgroup and IP", w.namespace_(), w.name());
    }
  }
  std::erase_if(excluded_, [&](const std::string& uid) { return !plan.pods.count(uid); });
  for (const auto& uid : diff.added) {
    if (Status st = add(plan.pods.at(uid)); !st) problems.push_back(st.message());
  }
  // add() over an applied pod updates in place: same netns link and map keys, and nothing is
  // re-sent to the ztunnel (what it was handed did not change).
  for (const auto& uid : diff.updated) {
    if (Status st = add(plan.pods.at(uid)); !st) problems.push_back(st.message());
  }
  for (auto& [uid, a] : applied_) {
    if (!a.served || a.capturing) continue;
    if (Status st = startCapture(uid, a); !st) problems.push_back(st.message());
  }
  if (!adopted_) {
    removeLeftovers(plan);
    resolver_.adopted();
    adopted_ = true;
  }
  for (const auto& p : problems) logWarn("reconcile: {}", p);
  pod_errors_ += problems.size() - plan.problems.size();
  last_problems_ = problems;
  return problems;
}

Status PodReconciler::add(const EnrolledPod& pod) {
  const v1::Workload& w = pod.workload;
  std::string who = fmt::format("pod {}/{}", w.namespace_(), w.name());
  if (auto why = resolver_.excluded(pod)) {
    if (excluded_.insert(w.uid()).second) logInfo("{}: never enrolled: {}", who, *why);
    pending_.erase(w.uid());
    return Status::ok();
  }
  excluded_.erase(w.uid());
  auto resolved = resolver_.resolve(pod);
  if (!resolved) {
    pending_.erase(w.uid());
    return resolved.error().context(who);
  }
  std::shared_ptr<const UniqueFd> netns;
  if (*resolved) {
    netns = std::make_shared<const UniqueFd>(std::move(**resolved));
  } else if (auto applied = applied_.find(w.uid()); applied != applied_.end()) {
    netns = applied->second.netns;  // an in-place update of a pod whose processes are going
  } else {
    if (pending_.insert(w.uid()).second) logInfo("{}: waiting for its network namespace", who);
    return Status::ok();
  }
  pending_.erase(w.uid());
  auto cookie = netns_.cookie(netns->get());
  if (!cookie) return cookie.error().context(who);
  auto out_cfg = netnsConfig(w);
  if (!out_cfg) return out_cfg.error().context(who);

  std::vector<bpf::IpAddr> ips;
  for (const auto& text : w.addresses()) {
    auto ip = bpf::IpAddr::parse(text);
    if (!ip) return ip.error().context(who);
    ips.push_back(*ip);
  }
  bpf::PodConfig in_cfg;
  in_cfg.probe_sources = probe_sources_;
  for (uint32_t port : w.bypass_inbound_ports())
    in_cfg.bypass_ports.push_back(static_cast<uint16_t>(port));

  if (Status st = capture_.attachInbound(podId(w.uid()), netns->get(), ips, in_cfg); !st) {
    return st.error().context(who + ": inbound capture");
  }
  // Already captured (an in-place update, or adopted from a previous agent's pins): update
  // the entry now. Otherwise capture starts in onServed(), once the ztunnel listens.
  auto prev = applied_.find(w.uid());
  bool same_netns = prev != applied_.end() && prev->second.netns_cookie == *cookie;
  bool capturing = same_netns && prev->second.capturing;
  bool served = same_netns && prev->second.served;
  if (auto enrolled = capture_.enrolledNetns(); !capturing && enrolled) {
    capturing = std::find(enrolled->begin(), enrolled->end(), *cookie) != enrolled->end();
  }
  if (capturing) {
    if (Status st = capture_.enrollNetns(*cookie, *out_cfg); !st) {
      return st.error().context(who + ": outbound capture");
    }
  }
  // Without reply routing the ztunnel falls back to connecting to the app from loopback.
  bool preserve_source = true;
  if (Status st = netns_.installReplyRouting(netns->get()); !st) {
    logWarn("{}: {}; the app will see connections from loopback", who, st.message());
    preserve_source = false;
  }
  HandoffPod hp;
  hp.info.set_preserve_source(preserve_source);
  hp.info.set_uid(w.uid());
  hp.info.set_name(w.name());
  hp.info.set_namespace_(w.namespace_());
  hp.info.set_service_account(w.service_account());
  hp.info.set_trust_domain(w.trust_domain());
  hp.info.set_node(w.node());
  for (const auto& a : w.addresses()) hp.info.add_addresses(a);
  hp.netns = netns;
  bool in_place = prev != applied_.end();  // diffEnrollment: same hand-off, nothing to re-send
  applied_[w.uid()] = Applied{pod, netns, *cookie, *out_cfg, capturing, served};
  if (!in_place) handoff_.upsert(std::move(hp));
  logInfo("enrolled {} (netns cookie {}, IPs {})", who, *cookie, fmt::join(w.addresses(), ","));
  return Status::ok();
}

Status PodReconciler::remove(const std::string& uid) {
  auto it = applied_.find(uid);
  if (it == applied_.end()) return Status::ok();
  Applied a = it->second;
  applied_.erase(it);
  // The resolver first (a fail-closed hold must go before the netns leaves the capture), then
  // capture off, then the ztunnel may close the pod's listeners.
  resolver_.released(uid);
  Status out = capture_.unenrollNetns(a.netns_cookie);
  Status in = capture_.detachInbound(podId(uid));
  handoff_.remove(uid);
  // The handle kept since add(): a deleted pod's namespace lives on only as long as it.
  if (Status st = netns_.removeReplyRouting(a.netns->get()); !st)
    logWarn("{}: {}", uid, st.message());
  logInfo("de-enrolled pod {}", uid);
  if (!out) return out.error().context("de-enroll " + uid);
  if (!in) return in.error().context("de-enroll " + uid);
  return Status::ok();
}

void PodReconciler::onServed(const std::string& uid) {
  auto it = applied_.find(uid);
  if (it == applied_.end() || it->second.capturing) return;
  it->second.served = true;
  if (Status st = startCapture(uid, it->second); !st) {
    logWarn("{}", st.message());
    last_problems_.push_back(st.message());  // retried by the next reconcile
    pod_errors_++;
  }
}

Status PodReconciler::startCapture(const std::string& uid, Applied& a) {
  if (Status st = capture_.enrollNetns(a.netns_cookie, a.outbound); !st) {
    return st.error().context(fmt::format("pod {}: outbound capture", uid));
  }
  a.capturing = true;
  logInfo("pod {}: served by the ztunnel, outbound capture on", uid);
  resolver_.captured(a.pod.workload);
  return Status::ok();
}

void PodReconciler::removeLeftovers(const EnrollmentPlan& plan) {
  // Pods that left the mesh while no agent ran keep the reply routing a previous agent added.
  for (const auto& path : plan.outside_netns) {
    auto netns = netns_.open(path);
    if (!netns) continue;  // the pod is gone, and its rules with it
    if (Status st = netns_.removeReplyRouting(netns->get()); !st)
      logWarn("{}: {}", path, st.message());
  }
  std::set<uint64_t> cookies;
  std::set<std::string> ids;
  for (const auto& [uid, a] : applied_) {
    cookies.insert(a.netns_cookie);
    ids.insert(podId(uid));
  }
  if (auto enrolled = capture_.enrolledNetns()) {
    for (uint64_t c : *enrolled) {
      if (cookies.count(c)) continue;
      logInfo("removing stale netns enrollment (cookie {}) left by a previous agent", c);
      if (Status st = capture_.unenrollNetns(c); !st) logWarn("{}", st.message());
    }
  }
  if (auto pods = capture_.inboundPods()) {
    for (const auto& id : *pods) {
      if (ids.count(id)) continue;
      logInfo("removing stale inbound capture of pod {} left by a previous agent", id);
      if (Status st = capture_.detachInbound(id); !st) logWarn("{}", st.message());
    }
  }
}

ReconcileStats PodReconciler::stats() const {
  return ReconcileStats{applied_.size(), pod_errors_, last_problems_,
                        std::vector<std::string>(pending_.begin(), pending_.end())};
}

void PodReconciler::setNodeIdentities(std::shared_ptr<const std::set<std::string>> identities) {
  std::lock_guard lock(identities_mu_);
  identities_.swap(identities);
}

bool PodReconciler::mayHaveIdentity(const std::string& ns, const std::string& sa) const {
  std::lock_guard lock(identities_mu_);
  return identities_ && identities_->count(ns + "/" + sa) > 0;
}

}  // namespace ambit::agent
