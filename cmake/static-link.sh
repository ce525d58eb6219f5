#!/usr/bin/env bash
# Link launcher of ambit-ztunnel (cmake/AmbitStaticLink.cmake). It runs the link command CMake
# gives with every system shared library that has a static archive beside it (gRPC, protobuf,
# Abseil, OpenSSL, c-ares, re2, libbpf, libelf, nghttp2, yaml-cpp, zlib...) replaced by that
# archive, together with the archives of the libraries those need (their DT_NEEDED entries,
# followed down), all in one group so their order does not matter; unreferenced sections are
# dropped. glibc, libstdc++ and libgcc stay shared, as do libraries without an archive
# (spdlog, fmt, prometheus-cpp). Why: a process maps every page it touches of each shared
# library, relocations dirty private pages in each, and the data plane's RSS is mostly those
# pages (BENCHMARKS.md, issue 13).
set -euo pipefail

declare -A seen=()
archives=()
args=()
keep_shared='^(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^.]*)\.so'

archive_of() {  # /dir/libfoo.so[.N...] -> /dir/libfoo.a, if it exists and may be linked static
  local so=$1 base
  base=$(basename "$so")
  [[ $base =~ $keep_shared ]] && return 1
  local a="$(dirname "$so")/${base%%.so*}.a"
  [[ -f $a ]] && echo "$a"
}

add_static() {  # the archive of shared library $1, then those of what it needs
  local so=$1 a dir needed
  a=$(archive_of "$so") || return 1
  [[ -n ${seen[$a]:-} ]] && return 0
  seen[$a]=1
  archives+=("$a")
  dir=$(dirname "$so")
  while read -r needed; do
    [[ -e $dir/$needed ]] && add_static "$dir/$needed" || true
  done < <(readelf -d "$(readlink -f "$so")" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  return 0
}

libdirs=()
for arg in "$@"; do
  [[ $arg == -L* ]] && libdirs+=("${arg#-L}")
done
libdirs+=("/usr/lib/$(${CXX:-c++} -print-multiarch 2>/dev/null || true)" /usr/lib)

for arg in "$@"; do
  if [[ $arg == /*.so || $arg == /*.so.* ]] && add_static "$arg"; then
    continue
  fi
  if [[ $arg == -l* ]]; then  # -lNAME: the libNAME.so the linker would take, if it has an archive
    found=""
    for d in "${libdirs[@]}"; do
      if [[ -e $d/lib${arg#-l}.so ]]; then found=$d/lib${arg#-l}.so; break; fi
    done
    if [[ -n $found ]] && add_static "$found"; then continue; fi
  fi
  args+=("$arg")
done
exec "${args[@]}" -Wl,--start-group "${archives[@]}" -Wl,--end-group -Wl,--gc-sections
