#pragma once
// libbpf's extensible option structs (bpf_object_open_opts, bpf_obj_get_opts, ...), zeroed
// with their size set: what LIBBPF_OPTS() does, without the GNU statement expression that a
// clang -Wpedantic build (the sanitizer and fuzz builds) refuses.

#include <cstring>

namespace ambit::bpf {

template <typename Opts>
Opts libbpfOpts() {
  Opts opts;
  std::memset(&opts, 0, sizeof(opts));  // padding too: libbpf checks bytes it does not know
  opts.sz = sizeof(opts);
  return opts;
}

}  // namespace ambit::bpf
