#!/usr/bin/env bash
# Link launcher of ambit-ztunnel, ambit-agent and ambit-waypoint (cmake/AmbitStaticLink.cmake).
# It runs the link command CMake gives with every system shared library that has a static
# archive beside it (gRPC, protobuf, Abseil, OpenSSL, c-ares, re2, libbpf, libelf, nghttp2,
# yaml-cpp, zlib...) replaced by that archive, together with the archives of the libraries
# those need (their DT_NEEDED entries, followed down), all in one group so their order does not
# matter; unreferenced sections are dropped. Archives Debian does not ship (fmt, spdlog,
# prometheus-cpp: scripts/setup-static-libs.sh builds them from Debian's sources) are taken from
# the directory given with `--archives DIR` (DIR/lib/libNAME.a). When no library left shared
# needs libstdc++, libstdc++ is linked statically too (-static-libstdc++); otherwise the process
# would hold two copies of it. glibc and libgcc stay shared. Why: a process maps every page it
# touches of each shared library, relocations dirty private pages in each, and a node daemon's
# RSS is mostly those pages (BENCHMARKS.md, issue 13; sessions 10, 21 and 23).
set -euo pipefail

extra=""  # --archives DIR: more static archives, in DIR/lib
if [[ ${1:-} == --archives ]]; then
  extra=$2
  shift 2
fi

declare -A seen=()   # archive -> 1: linked static
archives=()
shared=()            # shared libraries that stay (no archive), given or needed by an archive
args=()
keep_shared='^(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^.]*)\.so'

archive_of() {  # /dir/libfoo.so[.N...] -> /dir/libfoo.a or $extra/lib/libfoo.a, if it exists
                # and may be linked static
  local so=$1 base
  base=$(basename "$so")
  [[ $base =~ $keep_shared ]] && return 1
  local a="$(dirname "$so")/${base%%.so*}.a"
  [[ ! -f $a && -n $extra ]] && a="$extra/lib/${base%%.so*}.a"
  [[ -f $a ]] && echo "$a"
}

needed_of() {  # the DT_NEEDED libraries of $1 that live in its directory, as paths
  local dir n
  dir=$(dirname "$1")
  [[ $(head -c 4 "$1" | od -An -c | tr -d ' ') == 177ELF ]] || return 0  # a linker script
  readelf -d "$(readlink -f "$1")" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' |
    while read -r n; do [[ -e $dir/$n ]] && echo "$dir/$n"; done
}

add_static() {  # the archive of shared library $1, then those of what it needs
  local so=$1 a dep
  a=$(archive_of "$so") || return 1
  [[ -n ${seen[$a]:-} ]] && return 0
  seen[$a]=1
  archives+=("$a")
  while read -r dep; do
    add_static "$dep" || { [[ $(basename "$dep") =~ $keep_shared ]] || shared+=("$dep"); }
  done < <(needed_of "$so")
  return 0
}

# True when shared library $1, or one it needs (followed down), is one we link static: the
# process would then hold two copies of that library.
needs_a_static_one() {
  local so=$1 dep a
  a=$(archive_of "$so") && [[ -n ${seen[$a]:-} ]] && return 0
  while read -r dep; do
    needs_a_static_one "$dep" && return 0
  done < <(needed_of "$so")
  return 1
}

libdirs=()
for arg in "$@"; do
  [[ $arg == -L* ]] && libdirs+=("${arg#-L}")
done
libdirs+=("/usr/lib/$(${CXX:-c++} -print-multiarch 2>/dev/null || true)" /usr/lib)

for arg in "$@"; do
  so=""
  if [[ $arg == /*.so || $arg == /*.so.* ]]; then
    so=$arg
  elif [[ $arg == -l* ]]; then  # -lNAME: the libNAME.so the linker would take
    for d in "${libdirs[@]}"; do
      if [[ -e $d/lib${arg#-l}.so ]]; then so=$d/lib${arg#-l}.so; break; fi
    done
  fi
  if [[ -n $so ]] && add_static "$so"; then continue; fi
  [[ -n $so ]] && shared+=("$so")
  args+=("$arg")
done

for so in "${shared[@]}"; do
  if needs_a_static_one "$so"; then
    echo "static-link.sh: $so stays shared but needs a library linked static; linking it all shared" >&2
    exec "$@"
  fi
done
# libstdc++ static when nothing left shared needs it (followed down).
needs_libstdcxx() {
  local so=$1 dep
  while read -r dep; do
    [[ $(basename "$dep") == libstdc++.so* ]] && return 0
    needs_libstdcxx "$dep" && return 0
  done < <(needed_of "$so")
  return 1
}
static_cxx=(-static-libstdc++)
for so in "${shared[@]}"; do
  if needs_libstdcxx "$so"; then
    echo "static-link.sh: $so stays shared and needs libstdc++: libstdc++ stays shared" >&2
    static_cxx=()
    break
  fi
done
exec "${args[@]}" -Wl,--start-group "${archives[@]}" -Wl,--end-group \
  "${shared[@]}" "${static_cxx[@]}" -Wl,--gc-sections
