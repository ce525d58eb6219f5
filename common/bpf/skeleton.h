#pragma once
// RAII over a `bpftool gen skeleton` object (its C++ static members open/load/destroy).
// Lifetime: open() with a pin root (maps declared LIBBPF_PIN_BY_NAME are reused from or pinned
// to <pin_root>/<map name>), load(), use progs/maps, destroy on destruction. Programs the
// skeleton loaded stay alive after destruction only through links or pins that hold them.
// Not thread-safe; move-only.

#include <bpf/libbpf.h>

#include <string>
#include <utility>

#include "common/bpf/libbpf_opts.h"
#include "common/status.h"

namespace ambit::bpf {

// Routes libbpf's own messages (verifier log, pinning) into ambit's log, once per process.
void installLibbpfLogger();

template <typename T>
class BpfSkeleton {
 public:
  BpfSkeleton() = default;
  BpfSkeleton(const BpfSkeleton&) = delete;
  BpfSkeleton& operator=(const BpfSkeleton&) = delete;
  BpfSkeleton(BpfSkeleton&& o) noexcept
      : skel_(std::exchange(o.skel_, nullptr)),
        name_(std::move(o.name_)),
        pin_root_(std::move(o.pin_root_)) {}
  BpfSkeleton& operator=(BpfSkeleton&& o) noexcept {
    if (this != &o) {
      reset();
      skel_ = std::exchange(o.skel_, nullptr);
      name_ = std::move(o.name_);
      pin_root_ = std::move(o.pin_root_);
    }
    return *this;
  }
  ~BpfSkeleton() { reset(); }

  // Opens the embedded object; `name` only labels error messages.
  static Result<BpfSkeleton> open(const std::string& name, const std::string& pin_root_path) {
    installLibbpfLogger();
    AMBIT_LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_root_path.c_str());
    errno = 0;
    T* skel = T::open(&opts);
    if (!skel) {
      return errnoError(fmt::format("open BPF object {} (pin root {})", name, pin_root_path),
                        errno ? errno : EINVAL);
    }
    BpfSkeleton s;
    s.skel_ = skel;
    s.name_ = name;
    s.pin_root_ = pin_root_path;
    return s;
  }

  // Loads (and verifies) every program; reuses or pins the maps.
  Status load() {
    int err = T::load(skel_);
    if (err) {
      return errnoError(fmt::format("load BPF object {} (maps pinned under {}; an incompatible "
                                    "older pin needs cleanup)",
                                    name_, pin_root_),
                        -err);
    }
    return Status::ok();
  }

  T* get() const { return skel_; }
  T* operator->() const { return skel_; }
  const std::string& name() const { return name_; }

 private:
  void reset() {
    if (skel_) T::destroy(skel_);
    skel_ = nullptr;
  }

  T* skel_ = nullptr;
  std::string name_;
  std::string pin_root_;
};

}  // namespace ambit::bpf
