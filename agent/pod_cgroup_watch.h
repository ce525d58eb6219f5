#pragma once
// PodCgroupWatch: wakes the agent the moment the kubelet creates a pod's cgroup, so a pod in the
// mesh that has no IP yet is held (its connects refused, kube_pod_netns.h) before its sandbox
// and app start, not at the next poll. inotify (IN_CREATE of directories) on the directories pod
// cgroups appear in (KubeletCgroups::podParentDirs()); cgroupfs reports mkdir like any other
// filesystem. A parent that does not exist yet (the kubelet starts later, a QoS class not used
// so far) is added by refresh(), which the owner calls from time to time.
//
// Thread: the io_context's.

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/fd_watch.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace ambit::agent {

class PodCgroupWatch {
 public:
  // `parents` lists the directories to watch now (called again by refresh()); `on_pod_cgroup`
  // runs once per batch of events that created a pod cgroup ("pod" in its name).
  static Result<std::unique_ptr<PodCgroupWatch>> start(
      boost::asio::io_context& io, std::function<std::vector<std::string>()> parents,
      std::function<void()> on_pod_cgroup);

  // Watches the parents that appeared since; a parent that cannot be watched is logged once.
  void refresh();
  // The directories watched now.
  std::vector<std::string> watched() const;

 private:
  PodCgroupWatch(UniqueFd fd, std::function<std::vector<std::string>()> parents,
                 std::function<void()> on_pod_cgroup);
  bool onReadable();

  UniqueFd fd_;
  std::function<std::vector<std::string>()> parents_;
  std::function<void()> on_pod_cgroup_;
  std::map<int, std::string> watches_;         // watch descriptor -> directory
  std::map<std::string, std::string> failed_;  // directory -> why (logged once)
  std::unique_ptr<FdWatch> watch_;
};

}  // namespace ambit::agent
