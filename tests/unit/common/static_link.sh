#!/usr/bin/env bash
# Fails when one of the binaries given was not linked against the static archives of its
# libraries (cmake/AmbitStaticLink.cmake, cmake/static-link.sh): the loader may map glibc
# (libc, libm...), libgcc_s and itself, and nothing else; with --cxx-shared (no archives of fmt,
# spdlog and prometheus-cpp were built) also libstdc++ and those three. With --relr (lld-16 was
# found) the relative relocations must be packed (DT_RELR). A shared library coming back costs
# megabytes of resident memory per process (BENCHMARKS.md, sessions 10, 21, 23) without
# breaking anything else, so only this test would notice.
#
#   static_link.sh [--cxx-shared] [--relr] BINARY...
set -euo pipefail
# glibc's libraries and libgcc_s: what cmake/static-link.sh keeps shared (its keep_shared).
glibc='linux-vdso|libc|libm|libdl|librt|libpthread|libgcc_s|ld-linux[^.]*'
allowed="^($glibc)\\.so"
relr=false
while [[ ${1:-} == --* ]]; do
  case $1 in
    --cxx-shared) allowed="^($glibc|libstdc\\+\\+|libfmt|libspdlog|libprometheus-cpp-core)\\.so" ;;
    --relr) relr=true ;;
    *) echo "static_link.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
(($#)) || { echo "usage: $0 [--cxx-shared] [--relr] BINARY..." >&2; exit 2; }
failed=0
for bin in "$@"; do
  if $relr; then
    if ! dynamic=$(readelf -d "$bin"); then
      echo "FAIL: readelf -d $bin failed" >&2
      failed=1
      continue
    fi
    if ! grep -q '(RELR)' <<<"$dynamic"; then
      echo "FAIL: $bin has no DT_RELR (packed relative relocations)" >&2
      failed=1
      continue
    fi
  fi
  # What the loader maps, followed down: a library one of them needs counts too.
  if ! out=$(ldd "$bin" 2>&1); then
    echo "FAIL: ldd $bin: $out" >&2
    failed=1
    continue
  fi
  loaded=() extra=() other=()
  while read -r name rest; do
    [[ -n $name ]] || continue
    if [[ $rest == "=> "* || $name == /* || $name == linux-vdso* ]]; then
      name=${name##*/}
      loaded+=("$name")
      [[ $name =~ $allowed ]] || extra+=("$name")
    else
      other+=("$name $rest")  # "statically linked", a missing symbol version...
    fi
  done <<<"$out"
  if ((${#other[@]})); then
    echo "FAIL: ldd $bin says: ${other[*]}" >&2
    failed=1
  elif ((${#extra[@]})); then
    echo "FAIL: $bin loads shared libraries it should have linked statically: ${extra[*]}" >&2
    failed=1
  else
    echo "ok: $bin loads only ${loaded[*]}"
  fi
done
exit $failed
