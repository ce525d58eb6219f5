#pragma once
// RAII over a libbpf bpf_link. Destroying a BpfLink closes its fd: an unpinned link detaches
// then, a pinned one stays attached (the pin holds it) until detach() or unpinning.

#include <bpf/libbpf.h>
#include <linux/bpf.h>

#include <string>
#include <utility>

#include "common/status.h"

namespace ambit::bpf {

class BpfLink {
 public:
  BpfLink() = default;
  // Takes ownership; `what` names the link in error messages (e.g. "connect4 on /sys/fs/cgroup/x").
  BpfLink(bpf_link* link, std::string what) : link_(link), what_(std::move(what)) {}
  BpfLink(const BpfLink&) = delete;
  BpfLink& operator=(const BpfLink&) = delete;
  BpfLink(BpfLink&& o) noexcept
      : link_(std::exchange(o.link_, nullptr)), what_(std::move(o.what_)) {}
  BpfLink& operator=(BpfLink&& o) noexcept;
  ~BpfLink() { reset(); }

  // Attaches `prog` to the cgroup (fd) / network namespace (fd) through a bpf_link.
  static Result<BpfLink> attachCgroup(bpf_program* prog, int cgroup_fd, const std::string& what);
  static Result<BpfLink> attachNetns(bpf_program* prog, int netns_fd, const std::string& what);
  // Opens a link pinned in bpffs.
  static Result<BpfLink> openPinned(const std::string& path);

  Status pin(const std::string& path);
  // Atomically replaces the program behind the link (no detach gap).
  Status update(bpf_program* prog);
  // Forcibly detaches (BPF_LINK_DETACH) even while pins or other fds hold the link.
  Status detach();
  Result<bpf_link_info> info() const;

  int fd() const;
  bool valid() const { return link_ != nullptr; }
  const std::string& what() const { return what_; }

 private:
  void reset();

  bpf_link* link_ = nullptr;
  std::string what_;
};

}  // namespace ambit::bpf
