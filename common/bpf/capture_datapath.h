#pragma once
// The node agent's handle on the eBPF capture data path (DESIGN.md §3).
//
// open() loads every program, reusing the maps pinned under <pin dir>/maps, and makes sure the
// cgroup programs (connect4/6, sockops, getpeername4/6) are attached to the pods' cgroup
// subtree through links pinned under <pin dir>/links. Pinned links that already exist are
// ADOPTED: their program is swapped atomically (bpf_link_update), so an agent restart or
// upgrade never leaves a window without capture. Closing a CaptureDatapath leaves everything
// pinned and attached; only cleanup() removes it.
//
// Per pod: enrollNetns() turns on outbound capture for a netns (keyed by netns cookie);
// attachInbound() attaches sk_lookup to the pod's netns (link pinned at pods/<id>/sk_lookup)
// and records the pod IPs' inbound config.
//
// Owned by one thread (the agent's control loop); not thread-safe. Move-only via unique_ptr.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bpf/addr.h"
#include "common/bpf/maps.h"
#include "common/bpf/pin_dir.h"
#include "common/status.h"

namespace ambit::bpf {

class CaptureDatapath {
 public:
  // Attach points the cgroup links cover, in pin-name order.
  static const std::vector<std::string>& cgroupLinkNames();

  // pin_dir: e.g. /sys/fs/bpf/ambit/<node> (bpffs is mounted at /sys/fs/bpf if missing).
  // cgroup_path: a cgroup v2 directory whose subtree holds the pods.
  static Result<std::unique_ptr<CaptureDatapath>> open(const std::string& pin_dir,
                                                       const std::string& cgroup_path);
  ~CaptureDatapath();
  CaptureDatapath(const CaptureDatapath&) = delete;
  CaptureDatapath& operator=(const CaptureDatapath&) = delete;

  // Cgroup links found pinned and adopted by open() (empty on a fresh node).
  const std::vector<std::string>& adoptedLinks() const { return adopted_; }
  const PinDir& pinDir() const { return pin_dir_; }

  // Outbound capture for one pod netns (cookie from common/netns.h netnsCookie()).
  Status enrollNetns(uint64_t netns_cookie, const NetnsConfig& config);
  Status unenrollNetns(uint64_t netns_cookie);
  Result<std::vector<uint64_t>> enrolledNetns() const;

  // Inbound steering for one pod: pod IP configs, then the sk_lookup link in its netns
  // (adopted/updated if pinned already; re-attached if pinned for another netns). Pod IPs
  // previously attached for this pod id but absent from pod_ips are removed.
  Status attachInbound(const std::string& pod_id, int netns_fd, const std::vector<IpAddr>& pod_ips,
                       const PodConfig& config);
  // Detaches and unpins the pod's sk_lookup link, removes its IPs' config and listeners.
  // A pod that is not attached is not an error.
  Status detachInbound(const std::string& pod_id);
  // Pod ids with a pinned sk_lookup link (for reconciliation).
  Result<std::vector<std::string>> inboundPods() const;

  // What the ztunnel does through CaptureClient, available here for tests and tools.
  Status registerInboundListener(const IpAddr& pod_ip, int listener_fd);
  Result<std::optional<SockAddr>> lookupOriginalDst(int accepted_fd) const;

  Result<StatCounters> stats() const;

  // Fail closed before enrollment (Kubernetes mode; AMBIT_MAP_POD_CGROUPS in abi.h): while a
  // pod's cgroup is marked and its netns is not enrolled, its TCP connects (except to loopback)
  // are refused. Mark as soon as the pod's cgroup exists; unmark BEFORE unenrollNetns() when
  // the pod leaves the mesh. Marking twice keeps the refusal count.
  static Result<uint64_t> cgroupId(const std::string& cgroup_path);  // a cgroup v2 directory
  Status markPodCgroup(uint64_t cgroup_id);
  Status unmarkPodCgroup(uint64_t cgroup_id);  // not marked: not an error
  // Marked cgroup ids and the connects refused for each so far.
  Result<std::vector<std::pair<uint64_t, uint64_t>>> markedPodCgroups() const;

  // Removes every object ambit pinned under pin_dir: detaches and unpins all links, unpins the
  // maps, removes the directories. Works without loading anything; absent pin_dir is success.
  static Status cleanup(const std::string& pin_dir);

  // Implementation types (skeletons and map wrappers), opaque to users.
  struct Programs;
  struct Maps;

 private:
  CaptureDatapath(std::string pin_dir, std::unique_ptr<Programs> progs, std::unique_ptr<Maps> maps);
  Status attachCgroupLinks(int cgroup_fd, uint64_t cgroup_id);
  Status removePodIps(uint64_t pod_tag, const std::vector<IpAddr>& keep);

  PinDir pin_dir_;
  std::unique_ptr<Programs> progs_;
  std::unique_ptr<Maps> maps_;
  std::vector<std::string> adopted_;
};

}  // namespace ambit::bpf
