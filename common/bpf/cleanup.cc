// CaptureDatapath::cleanup: removes every pinned object ambit created, without loading programs.
#include <unistd.h>

#include "common/bpf/capture_datapath.h"
#include "common/bpf/link.h"
#include "common/log.h"

namespace ambit::bpf {
namespace {

const char* const kMapNames[] = {AMBIT_MAP_NETNS,      AMBIT_MAP_SOCK_DST,     AMBIT_MAP_ORIG_DST,
                                 AMBIT_MAP_PODS,       AMBIT_MAP_IN_LISTENERS, AMBIT_MAP_STATS,
                                 AMBIT_MAP_IN_PENDING, AMBIT_MAP_POD_CGROUPS};

// Keeps the first error, carries on with the rest so one bad pin does not strand the others.
void keepFirst(Status& first, Status next) {
  if (!next && first) first = std::move(next);
}

Status detachAndUnpin(const std::string& path) {
  if (!pathExists(path)) return Status::ok();
  auto link = BpfLink::openPinned(path);
  if (link) {
    auto detached = link->detach();
    if (!detached) logWarn("{}", detached.message());
  }
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errnoError(fmt::format("unpin {}", path));
  }
  return Status::ok();
}

Status unlinkIfPresent(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return errnoError(fmt::format("unpin {}", path));
  }
  return Status::ok();
}

Status rmdirIfPresent(const std::string& path) {
  if (::rmdir(path.c_str()) != 0 && errno != ENOENT) {
    return errnoError(fmt::format("remove directory {}", path));
  }
  return Status::ok();
}

}  // namespace

Status CaptureDatapath::cleanup(const std::string& pin_dir) {
  PinDir dir(pin_dir);
  if (!pathExists(dir.root())) return Status::ok();
  Status first;
  for (const auto& name : cgroupLinkNames()) keepFirst(first, detachAndUnpin(dir.link(name)));
  auto pods = listDir(dir.pods());
  if (!pods) {
    keepFirst(first, pods.status());
  } else {
    for (const auto& id : *pods) {
      keepFirst(first, detachAndUnpin(dir.podSkLookup(id)));
      keepFirst(first, rmdirIfPresent(dir.pod(id)));
    }
  }
  for (const char* name : kMapNames) {
    keepFirst(first, unlinkIfPresent(dir.maps() + "/" + name));
  }
  for (const auto& d : {dir.pods(), dir.links(), dir.maps(), dir.root()}) {
    keepFirst(first, rmdirIfPresent(d));
  }
  return first;
}

}  // namespace ambit::bpf
