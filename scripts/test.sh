#!/usr/bin/env bash
# The test command: installs dependencies, builds, and runs every test (unit, interop, kernel,
# e2e, bench, k8s). Needs root: kernel and e2e tests attach real BPF programs in throwaway
# namespaces/cgroups.
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         one label (unit | interop | kernel | e2e | bench | k8s |
#                                   k8s-node)
#   scripts/test.sh -R Config       tests whose name matches a regex
#   scripts/test.sh -L fuzz         only the fuzz smoke run
# The Kubernetes components (label k8s) are built first when every test or a k8s one runs, and
# the node's (containerd, runc, CNI, crictl, kubelet, kube-proxy, CoreDNS; label k8s-node) too
# when that label runs, and Jaeger (the tracing e2e test's collector) when every test or an e2e
# one runs.
# With no arguments (CI) the fuzz smoke run follows: every fuzz target for AMBIT_FUZZ_SECONDS
# (default 20) on its seed corpus, in its own clang build tree (scripts/fuzz.sh, build-fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ $EUID -ne 0 ]]; then
  echo "scripts/test.sh: must run as root (kernel and e2e tests load BPF and create netns)" >&2
  exit 1
fi
scripts/setup.sh
fuzz_smoke() { scripts/fuzz.sh "${AMBIT_FUZZ_SECONDS:-20}"; }
if [[ "$*" == "-L fuzz" ]]; then
  fuzz_smoke
  exit
fi
scripts/build.sh
if [[ $# -eq 0 || "$*" == *k8s* ]]; then
  scripts/setup-k8s.sh
fi
if [[ $# -eq 0 || "$*" == *k8s-node* ]]; then
  scripts/setup-k8s.sh --node
fi
# The collectors: Jaeger all-in-one (the tracing e2e test) and Prometheus with Kubernetes
# discovery (k8s_node_chart), built from their pinned Go modules.
if [[ $# -eq 0 || "$*" == *e2e* || "$*" == *k8s-node* ]]; then
  scripts/setup-k8s.sh --observability
fi
status=0
(cd "${AMBIT_BUILD_DIR:-build}" && ctest --output-on-failure --no-tests=error "$@") || status=$?
if [[ $# -eq 0 ]]; then
  fuzz_smoke || status=1
fi
exit $status
