#include "common/bpf/link.h"

#include <bpf/bpf.h>

#include <cstring>

#include "common/bpf/skeleton.h"

namespace ambit::bpf {
namespace {

// libbpf 1.x returns NULL and sets errno; keep a non-zero code for the message.
int lastErrno() { return errno ? errno : EINVAL; }

}  // namespace

BpfLink& BpfLink::operator=(BpfLink&& o) noexcept {
  if (this != &o) {
    reset();
    link_ = std::exchange(o.link_, nullptr);
    what_ = std::move(o.what_);
  }
  return *this;
}

void BpfLink::reset() {
  if (link_) bpf_link__destroy(link_);
  link_ = nullptr;
}

Result<BpfLink> BpfLink::attachCgroup(bpf_program* prog, int cgroup_fd, const std::string& what) {
  errno = 0;
  bpf_link* link = bpf_program__attach_cgroup(prog, cgroup_fd);
  if (!link) return errnoError(fmt::format("attach {}", what), lastErrno());
  return BpfLink(link, what);
}

Result<BpfLink> BpfLink::attachNetns(bpf_program* prog, int netns_fd, const std::string& what) {
  errno = 0;
  bpf_link* link = bpf_program__attach_netns(prog, netns_fd);
  if (!link) return errnoError(fmt::format("attach {}", what), lastErrno());
  return BpfLink(link, what);
}

Result<BpfLink> BpfLink::openPinned(const std::string& path) {
  installLibbpfLogger();
  errno = 0;
  bpf_link* link = bpf_link__open(path.c_str());
  if (!link) return errnoError(fmt::format("open pinned link {}", path), lastErrno());
  return BpfLink(link, path);
}

Status BpfLink::pin(const std::string& path) {
  int err = bpf_link__pin(link_, path.c_str());
  if (err) return errnoError(fmt::format("pin {} at {}", what_, path), -err);
  return Status::ok();
}

Status BpfLink::update(bpf_program* prog) {
  int err = bpf_link__update_program(link_, prog);
  if (err) return errnoError(fmt::format("update program of link {}", what_), -err);
  return Status::ok();
}

Status BpfLink::detach() {
  int err = bpf_link__detach(link_);
  if (err) return errnoError(fmt::format("detach link {}", what_), -err);
  return Status::ok();
}

Result<bpf_link_info> BpfLink::info() const {
  bpf_link_info info;
  std::memset(&info, 0, sizeof(info));
  __u32 len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd(), &info, &len) != 0) {
    return errnoError(fmt::format("get info of link {}", what_));
  }
  return info;
}

int BpfLink::fd() const { return link_ ? bpf_link__fd(link_) : -1; }

}  // namespace ambit::bpf
