#pragma once
// Fakes of what PodReconciler drives (pod_datapath.h), shared by the reconciler's tests and the
// Kubernetes-mode resolution tests: capture maps as std::maps, namespaces as paths with a cookie
// (handles are eventfds), a hand-off that records what it was given.

#include <sys/eventfd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "agent/handoff_server.h"
#include "agent/pod_datapath.h"

namespace ambit::agent::testing {

class FakeCapture final : public PodCapture {
 public:
  std::map<uint64_t, bpf::NetnsConfig> outbound;                // enrolled netns cookies
  std::map<std::string, std::vector<std::string>> inbound_ips;  // by pod id
  std::map<std::string, bpf::PodConfig> inbound_config;         // by pod id
  int enroll_calls = 0;
  int unenroll_calls = 0;

  Status enrollNetns(uint64_t cookie, const bpf::NetnsConfig& config) override {
    ++enroll_calls;
    outbound[cookie] = config;
    return Status::ok();
  }
  Status unenrollNetns(uint64_t cookie) override {
    ++unenroll_calls;
    outbound.erase(cookie);
    return Status::ok();
  }
  Result<std::vector<uint64_t>> enrolledNetns() const override {
    std::vector<uint64_t> out;
    for (const auto& [cookie, cfg] : outbound) out.push_back(cookie);
    return out;
  }
  Status attachInbound(const std::string& pod_id, int, const std::vector<bpf::IpAddr>& ips,
                       const bpf::PodConfig& config) override {
    auto& list = inbound_ips[pod_id];
    list.clear();
    for (const auto& ip : ips) list.push_back(ip.toString());
    inbound_config[pod_id] = config;
    return Status::ok();
  }
  Status detachInbound(const std::string& pod_id) override {
    inbound_ips.erase(pod_id);
    inbound_config.erase(pod_id);
    return Status::ok();
  }
  Result<std::vector<std::string>> inboundPods() const override {
    std::vector<std::string> out;
    for (const auto& [id, ips] : inbound_ips) out.push_back(id);
    return out;
  }
};

// Namespaces are paths with a cookie; a path without one does not exist (yet).
class FakeNetns final : public PodNetns {
 public:
  std::map<std::string, uint64_t> cookies;
  std::set<std::string> routed;  // paths with reply routing installed
  bool routing_fails = false;

  Result<UniqueFd> open(const std::string& path) override {
    if (!cookies.count(path)) return errnoError("open netns " + path, ENOENT);
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC));
    if (!fd) return errnoError("eventfd");
    paths_[fd.get()] = path;
    return fd;
  }
  Result<uint64_t> cookie(int fd) override { return cookies.at(paths_.at(fd)); }
  Status installReplyRouting(int fd) override {
    if (routing_fails) return makeError("rtnetlink: Operation not permitted");
    routed.insert(paths_.at(fd));
    return Status::ok();
  }
  Status removeReplyRouting(int fd) override {
    routed.erase(paths_.at(fd));
    return Status::ok();
  }

 private:
  std::map<int, std::string> paths_;  // open fd -> its path (fd numbers are reused)
};

class FakeHandoff final : public PodHandoff {
 public:
  std::map<std::string, v1::PodInfo> pods;
  std::vector<std::string> log;  // "upsert <uid>" / "remove <uid>"

  void upsert(HandoffPod pod) override {
    log.push_back("upsert " + pod.info.uid());
    pods[pod.info.uid()] = pod.info;
  }
  void remove(const std::string& uid) override {
    log.push_back("remove " + uid);
    pods.erase(uid);
  }
};

}  // namespace ambit::agent::testing
