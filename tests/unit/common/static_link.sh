#!/usr/bin/env bash
# Fails when one of the binaries given was not linked against the static archives of its
# libraries (cmake/AmbitStaticLink.cmake, cmake/static-link.sh): the loader may map glibc
# (libc, libm), libgcc_s and itself, and nothing else; with --cxx-shared (no archives of fmt,
# spdlog and prometheus-cpp were built) also libstdc++ and those three. With --relr (lld-16 was
# found) the relative relocations must be packed (DT_RELR). A shared library coming back costs
# megabytes of resident memory per process (BENCHMARKS.md, sessions 10, 21, 23) without
# breaking anything else, so only this test would notice.
#
#   static_link.sh [--cxx-shared] [--relr] BINARY...
set -euo pipefail
allowed='^(linux-vdso|libc|libm|libgcc_s|ld-linux[^.]*)\.so'
relr=false
while [[ ${1:-} == --* ]]; do
  case $1 in
    --cxx-shared)
      allowed='^(linux-vdso|libc|libm|libgcc_s|ld-linux[^.]*|libstdc\+\+|libfmt|libspdlog'
      allowed+='|libprometheus-cpp-core)\.so' ;;
    --relr) relr=true ;;
    *) echo "static_link.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
(($#)) || { echo "usage: $0 [--cxx-shared] [--relr] BINARY..." >&2; exit 2; }
failed=0
for bin in "$@"; do
  if $relr && ! readelf -d "$bin" 2>/dev/null | grep -q '(RELR)'; then
    echo "FAIL: $bin has no DT_RELR (packed relative relocations)" >&2
    failed=1
    continue
  fi
  # What the loader maps, followed down: a library one of them needs counts too.
  if ! libs=$(ldd "$bin" 2>&1); then
    echo "FAIL: ldd $bin: $libs" >&2
    failed=1
    continue
  fi
  extra=$(awk '{ sub(/^\//, "", $1); n = split($1, p, "/"); print p[n] }' <<<"$libs" |
    grep -Ev "$allowed" | tr '\n' ' ' || true)
  if [[ -n $extra ]]; then
    echo "FAIL: $bin loads shared libraries it should have linked statically: $extra" >&2
    failed=1
  else
    echo "ok: $bin loads only $(awk '{ n = split($1, p, "/"); printf "%s ", p[n] }' <<<"$libs")"
  fi
done
exit $failed
