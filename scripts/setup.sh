#!/usr/bin/env bash
# Installs every build, test and demo dependency of ambit from Debian bookworm packages, then
# builds the static archives the node daemons' link needs from Debian's sources
# (setup-static-libs.sh, ~20 s the first time). Idempotent: a second run installs nothing and
# finishes in seconds.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential ccache cmake ninja-build pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  # the node daemons' link (cmake/AmbitStaticLink.cmake): packed relocations, the ztunnel's
  # function order;
  # dpkg-dev unpacks the Debian sources scripts/setup-static-libs.sh builds archives from
  lld-16 dpkg-dev
  # fuzzing and sanitizer builds (scripts/fuzz.sh): libFuzzer, ASan and UBSan runtimes of clang 14
  libclang-rt-14-dev
  # libraries (DESIGN.md §8)
  libssl-dev libnghttp2-dev libboost1.81-dev libboost-url1.81-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev prometheus-cpp-dev
  libgtest-dev libgmock-dev libbenchmark-dev libre2-dev libjemalloc-dev
  # lab, peers and test tools
  iproute2 procps psmisc tcpdump openssl curl iperf3 wrk nghttp2-client stunnel4 nginx-light haproxy
  python3 python3-h2 prometheus
  # benchmarks (tests/bench)
  hey linux-perf
  # the ztunnel's function order (tests/bench/hot_functions.py profiles under callgrind)
  valgrind
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Services from these packages (nginx, haproxy, prometheus) must not start on install:
  # the lab and benchmarks start their own instances on addresses they own.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present"
fi

# Static archives of fmt, spdlog and prometheus-cpp for the node daemons' link (Debian ships them
# shared only); cached in /var/cache/ambit/static-libs.
"$(dirname "$0")/setup-static-libs.sh"
