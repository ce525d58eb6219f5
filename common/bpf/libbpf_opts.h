#pragma once
// libbpf's extensible option structs (bpf_object_open_opts, bpf_obj_get_opts, ...), zeroed
// with their size set: what LIBBPF_OPTS() does, without the GNU statement expression that a
// clang -Wpedantic build (the sanitizer and fuzz builds) refuses.

#include <cstring>

namespace ambit::bpf {

// Zeroes `opts` in place and sets its size. In place, not returned by value: a copy need not
// keep the padding zero, and libbpf refuses trailing padding that is not ("non-zero extra
// bytes").
template <typename Opts>
void initLibbpfOpts(Opts& opts) {
  std::memset(&opts, 0, sizeof(opts));
  opts.sz = sizeof(opts);
}

}  // namespace ambit::bpf
