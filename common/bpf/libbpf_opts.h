#pragma once
// libbpf's LIBBPF_OPTS() declares an options struct zero-filled to its last byte (libbpf refuses
// non-zero bytes past the fields it knows). The macro is a GNU statement expression, which
// -Wpedantic refuses under clang (the sanitizer and fuzz tree). Filling the struct by hand is
// no substitute: GCC -O2 did not keep the trailing padding zeroed. So the macro stays, with
// that one warning off around it.

#include <bpf/libbpf.h>

// GCC keeps quiet about a GNU extension expanded from a system header's macro, and refuses a
// pragma inside a declaration; so the pragmas are clang's alone, and the declaration ends inside
// the macro (the caller's own ';' is an empty statement).
#if defined(__clang__)
#define AMBIT_LIBBPF_OPTS(TYPE, NAME, ...)                                                         \
  _Pragma("clang diagnostic push")                                                                 \
      _Pragma("clang diagnostic ignored \"-Wgnu-statement-expression\"")                           \
          _Pragma("clang diagnostic ignored \"-Wpedantic\"") LIBBPF_OPTS(TYPE, NAME, __VA_ARGS__); \
  _Pragma("clang diagnostic pop")
#else
#define AMBIT_LIBBPF_OPTS(TYPE, NAME, ...) LIBBPF_OPTS(TYPE, NAME, __VA_ARGS__);
#endif
