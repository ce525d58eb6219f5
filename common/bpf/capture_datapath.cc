#include "common/bpf/capture_datapath.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <functional>
#include <utility>

#include "common/bpf/capture_client.h"
#include "common/bpf/link.h"
#include "common/bpf/skeleton.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "connect4.skel.h"
#include "connect6.skel.h"
#include "getpeername4.skel.h"
#include "getpeername6.skel.h"
#include "sk_lookup.skel.h"
#include "sockops.skel.h"

namespace ambit::bpf {

struct CaptureDatapath::Programs {
  BpfSkeleton<struct connect4> c4;
  BpfSkeleton<struct connect6> c6;
  BpfSkeleton<struct sockops> ops;
  BpfSkeleton<struct getpeername4> gp4;
  BpfSkeleton<struct getpeername6> gp6;
  BpfSkeleton<struct sk_lookup> lookup;
  std::vector<BpfLink> cgroup_links;
};

struct CaptureDatapath::Maps {
  EnrolledNetnsMap netns;
  OrigDstMap orig_dst;
  PodConfigMap pods;
  InboundListenerMap listeners;
  StatsMap stats;
  PodCgroupMap pod_cgroups;
};

namespace {

// One link ambit keeps pinned: how to recognise a pinned one as ours and how to create it.
struct LinkSpec {
  std::string what;
  std::string pin_path;
  bpf_program* prog;
  std::function<bool(const bpf_link_info&)> matches;
  std::function<Result<BpfLink>()> attach;
};

struct LinkOutcome {
  BpfLink link;
  bool adopted = false;
};

Result<LinkOutcome> attachAndPin(const LinkSpec& spec) {
  auto fresh = spec.attach();
  AMBIT_TRY(fresh);
  AMBIT_TRY(fresh->pin(spec.pin_path));
  return LinkOutcome{std::move(*fresh), false};
}

// Adopts a matching pinned link (swapping in spec.prog), or attaches a new one. A pinned link
// that does not match (other cgroup/netns) is replaced: new link first, then the old one goes,
// so there is never a moment without a program attached.
Result<LinkOutcome> adoptOrAttach(const LinkSpec& spec) {
  if (!pathExists(spec.pin_path)) return attachAndPin(spec);
  auto old = BpfLink::openPinned(spec.pin_path);
  if (old) {
    auto info = old->info();
    if (info && spec.matches(*info)) {
      auto updated = old->update(spec.prog);
      if (updated) return LinkOutcome{std::move(*old), true};
      logWarn("{}: replacing the link", updated.message());
    } else {
      logInfo("pinned link {} is not {}: replacing it", spec.pin_path, spec.what);
    }
  } else {
    logWarn("{}: replacing it", old.error().message);
  }
  auto fresh = spec.attach();
  AMBIT_TRY(fresh);
  if (old) {
    auto detached = old->detach();
    if (!detached) logWarn("{}", detached.message());
  }
  if (::unlink(spec.pin_path.c_str()) != 0 && errno != ENOENT) {
    return errnoError(fmt::format("unpin stale link {}", spec.pin_path));
  }
  AMBIT_TRY(fresh->pin(spec.pin_path));
  return LinkOutcome{std::move(*fresh), false};
}

template <typename T>
Result<BpfSkeleton<T>> loadSkeleton(const char* name, const std::string& pin_root) {
  auto skel = BpfSkeleton<T>::open(name, pin_root);
  AMBIT_TRY(skel);
  AMBIT_TRY(skel->load());
  return std::move(*skel);
}

Result<std::unique_ptr<CaptureDatapath::Maps>> mapsOf(const struct connect4* skel) {
  auto netns = MapHandle::fromFd(bpf_map__fd(skel->maps.ambit_netns), AMBIT_MAP_NETNS);
  AMBIT_TRY(netns);
  auto orig = MapHandle::fromFd(bpf_map__fd(skel->maps.ambit_orig_dst), AMBIT_MAP_ORIG_DST);
  AMBIT_TRY(orig);
  auto pods = MapHandle::fromFd(bpf_map__fd(skel->maps.ambit_pods), AMBIT_MAP_PODS);
  AMBIT_TRY(pods);
  auto lsn = MapHandle::fromFd(bpf_map__fd(skel->maps.ambit_in_lsn), AMBIT_MAP_IN_LISTENERS);
  AMBIT_TRY(lsn);
  auto stats = MapHandle::fromFd(bpf_map__fd(skel->maps.ambit_stats), AMBIT_MAP_STATS);
  AMBIT_TRY(stats);
  auto cgs = MapHandle::fromFd(bpf_map__fd(skel->maps.ambit_pod_cg), AMBIT_MAP_POD_CGROUPS);
  AMBIT_TRY(cgs);
  return std::unique_ptr<CaptureDatapath::Maps>(
      new CaptureDatapath::Maps{EnrolledNetnsMap(std::move(*netns)), OrigDstMap(std::move(*orig)),
                                PodConfigMap(std::move(*pods)), InboundListenerMap(std::move(*lsn)),
                                StatsMap(std::move(*stats)), PodCgroupMap(std::move(*cgs))});
}

struct CgroupHandle {
  UniqueFd fd;
  uint64_t id = 0;
};

Result<CgroupHandle> openCgroup(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errnoError(fmt::format("open cgroup {}", path));
  struct statfs sfs {};
  if (::fstatfs(fd.get(), &sfs) != 0) return errnoError(fmt::format("statfs cgroup {}", path));
  if (sfs.f_type != static_cast<decltype(sfs.f_type)>(CGROUP2_SUPER_MAGIC)) {
    return makeError("{} is not a cgroup v2 directory (see findCgroup2Mount)", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return errnoError(fmt::format("stat cgroup {}", path));
  return CgroupHandle{std::move(fd), static_cast<uint64_t>(st.st_ino)};
}

}  // namespace

const std::vector<std::string>& CaptureDatapath::cgroupLinkNames() {
  static const std::vector<std::string> names = {AMBIT_LINK_CONNECT4, AMBIT_LINK_CONNECT6,
                                                 AMBIT_LINK_SOCKOPS, AMBIT_LINK_GETPEERNAME4,
                                                 AMBIT_LINK_GETPEERNAME6};
  return names;
}

CaptureDatapath::CaptureDatapath(std::string pin_dir, std::unique_ptr<Programs> progs,
                                 std::unique_ptr<Maps> maps)
    : pin_dir_(std::move(pin_dir)), progs_(std::move(progs)), maps_(std::move(maps)) {}

CaptureDatapath::~CaptureDatapath() = default;

Result<std::unique_ptr<CaptureDatapath>> CaptureDatapath::open(const std::string& pin_dir,
                                                               const std::string& cgroup_path) {
  installLibbpfLogger();
  PinDir dir(pin_dir);
  AMBIT_TRY(ensureBpffs());
  for (const auto& d : {dir.root(), dir.maps(), dir.links(), dir.pods()}) {
    AMBIT_TRY(ensureBpffsDir(d));
  }
  auto cgroup = openCgroup(cgroup_path);
  AMBIT_TRY(cgroup);

  auto progs = std::make_unique<Programs>();
  const std::string pin_root = dir.maps();
  auto c4 = loadSkeleton<struct connect4>("connect4", pin_root);
  AMBIT_TRY(c4);
  progs->c4 = std::move(*c4);
  auto c6 = loadSkeleton<struct connect6>("connect6", pin_root);
  AMBIT_TRY(c6);
  progs->c6 = std::move(*c6);
  auto ops = loadSkeleton<struct sockops>("sockops", pin_root);
  AMBIT_TRY(ops);
  progs->ops = std::move(*ops);
  auto gp4 = loadSkeleton<struct getpeername4>("getpeername4", pin_root);
  AMBIT_TRY(gp4);
  progs->gp4 = std::move(*gp4);
  auto gp6 = loadSkeleton<struct getpeername6>("getpeername6", pin_root);
  AMBIT_TRY(gp6);
  progs->gp6 = std::move(*gp6);
  auto lookup = loadSkeleton<struct sk_lookup>("sk_lookup", pin_root);
  AMBIT_TRY(lookup);
  progs->lookup = std::move(*lookup);

  auto maps = mapsOf(progs->c4.get());
  AMBIT_TRY(maps);
  std::unique_ptr<CaptureDatapath> dp(
      new CaptureDatapath(pin_dir, std::move(progs), std::move(*maps)));
  auto attached = dp->attachCgroupLinks(cgroup->fd.get(), cgroup->id);
  if (!attached) return attached.error().context(fmt::format("cgroup {}", cgroup_path));
  return dp;
}

Status CaptureDatapath::attachCgroupLinks(int cgroup_fd, uint64_t cgroup_id) {
  struct Hook {
    const char* name;
    bpf_program* prog;
    bpf_attach_type type;
  };
  const Hook hooks[] = {
      {AMBIT_LINK_CONNECT4, progs_->c4->progs.ambit_connect4, BPF_CGROUP_INET4_CONNECT},
      {AMBIT_LINK_CONNECT6, progs_->c6->progs.ambit_connect6, BPF_CGROUP_INET6_CONNECT},
      {AMBIT_LINK_SOCKOPS, progs_->ops->progs.ambit_sockops, BPF_CGROUP_SOCK_OPS},
      {AMBIT_LINK_GETPEERNAME4, progs_->gp4->progs.ambit_getpeername4,
       BPF_CGROUP_INET4_GETPEERNAME},
      {AMBIT_LINK_GETPEERNAME6, progs_->gp6->progs.ambit_getpeername6,
       BPF_CGROUP_INET6_GETPEERNAME},
  };
  for (const Hook& h : hooks) {
    std::string what = fmt::format("{} on cgroup id {}", h.name, cgroup_id);
    LinkSpec spec{what, pin_dir_.link(h.name), h.prog,
                  [&h, cgroup_id](const bpf_link_info& info) {
                    return info.type == BPF_LINK_TYPE_CGROUP &&
                           info.cgroup.cgroup_id == cgroup_id &&
                           info.cgroup.attach_type == static_cast<__u32>(h.type);
                  },
                  [&h, cgroup_fd, what] { return BpfLink::attachCgroup(h.prog, cgroup_fd, what); }};
    auto outcome = adoptOrAttach(spec);
    AMBIT_TRY(outcome);
    if (outcome->adopted) adopted_.push_back(h.name);
    progs_->cgroup_links.push_back(std::move(outcome->link));
  }
  return Status::ok();
}

Status CaptureDatapath::enrollNetns(uint64_t netns_cookie, const NetnsConfig& config) {
  return maps_->netns.put(netns_cookie, config);
}

Status CaptureDatapath::unenrollNetns(uint64_t netns_cookie) {
  return maps_->netns.remove(netns_cookie);
}

Result<std::vector<uint64_t>> CaptureDatapath::enrolledNetns() const {
  return maps_->netns.cookies();
}

Status CaptureDatapath::attachInbound(const std::string& pod_id, int netns_fd,
                                      const std::vector<IpAddr>& pod_ips, const PodConfig& config) {
  AMBIT_TRY(validatePodId(pod_id));
  const uint64_t tag = podTag(pod_id);
  auto abi = config.toAbi(tag);
  if (!abi) return abi.error().context(fmt::format("pod {}", pod_id));
  struct stat st {};
  if (::fstat(netns_fd, &st) != 0)
    return errnoError(fmt::format("fstat netns fd of pod {}", pod_id));
  const uint64_t netns_ino = st.st_ino;

  for (const IpAddr& ip : pod_ips) AMBIT_TRY(maps_->pods.put(ip, *abi));
  AMBIT_TRY(removePodIps(tag, pod_ips));

  AMBIT_TRY(ensureBpffsDir(pin_dir_.pod(pod_id)));
  bpf_program* prog = progs_->lookup->progs.ambit_sk_lookup;
  std::string what = fmt::format("sk_lookup of pod {}", pod_id);
  LinkSpec spec{what, pin_dir_.podSkLookup(pod_id), prog,
                [netns_ino](const bpf_link_info& info) {
                  return info.type == BPF_LINK_TYPE_NETNS && info.netns.netns_ino == netns_ino &&
                         info.netns.attach_type == BPF_SK_LOOKUP;
                },
                [prog, netns_fd, what] { return BpfLink::attachNetns(prog, netns_fd, what); }};
  auto outcome = adoptOrAttach(spec);
  AMBIT_TRY(outcome);
  return Status::ok();
}

Status CaptureDatapath::removePodIps(uint64_t pod_tag, const std::vector<IpAddr>& keep) {
  auto entries = maps_->pods.entries();
  AMBIT_TRY(entries);
  for (const auto& [ip, cfg] : *entries) {
    if (cfg.pod_tag != pod_tag) continue;
    if (std::find(keep.begin(), keep.end(), ip) != keep.end()) continue;
    AMBIT_TRY(maps_->pods.remove(ip));
    AMBIT_TRY(maps_->listeners.remove(ip));
  }
  return Status::ok();
}

Status CaptureDatapath::detachInbound(const std::string& pod_id) {
  AMBIT_TRY(validatePodId(pod_id));
  const std::string path = pin_dir_.podSkLookup(pod_id);
  if (pathExists(path)) {
    auto link = BpfLink::openPinned(path);
    AMBIT_TRY(link);
    AMBIT_TRY(link->detach());
    if (::unlink(path.c_str()) != 0) return errnoError(fmt::format("unpin {}", path));
  }
  if (::rmdir(pin_dir_.pod(pod_id).c_str()) != 0 && errno != ENOENT) {
    return errnoError(fmt::format("remove {}", pin_dir_.pod(pod_id)));
  }
  return removePodIps(podTag(pod_id), {});
}

Result<std::vector<std::string>> CaptureDatapath::inboundPods() const {
  auto ids = listDir(pin_dir_.pods());
  AMBIT_TRY(ids);
  std::vector<std::string> out;
  for (const auto& id : *ids) {
    if (pathExists(pin_dir_.podSkLookup(id))) out.push_back(id);
  }
  return out;
}

Status CaptureDatapath::registerInboundListener(const IpAddr& pod_ip, int listener_fd) {
  return maps_->listeners.put(pod_ip, listener_fd);
}

Result<std::optional<SockAddr>> CaptureDatapath::lookupOriginalDst(int accepted_fd) const {
  return bpf::lookupOriginalDst(maps_->orig_dst, accepted_fd);
}

Result<StatCounters> CaptureDatapath::stats() const { return maps_->stats.read(); }

Result<uint64_t> CaptureDatapath::cgroupId(const std::string& cgroup_path) {
  auto cgroup = openCgroup(cgroup_path);
  AMBIT_TRY(cgroup);
  return cgroup->id;
}

Status CaptureDatapath::markPodCgroup(uint64_t cgroup_id) {
  return maps_->pod_cgroups.put(cgroup_id);
}

Status CaptureDatapath::unmarkPodCgroup(uint64_t cgroup_id) {
  return maps_->pod_cgroups.remove(cgroup_id);
}

Result<std::vector<std::pair<uint64_t, uint64_t>>> CaptureDatapath::markedPodCgroups() const {
  return maps_->pod_cgroups.entries();
}

}  // namespace ambit::bpf
