#!/usr/bin/env bash
# Builds the test-only Go components (DESIGN.md §8-9: Kubernetes, the node runtime, and Jaeger
# for the tracing e2e test) from the Go modules pinned in tests/k8s/tools/go.mod (and the
# node/ and jaeger/ modules beside it), through the Go module proxy, into a directory outside
# the repository.
# Idempotent: a binary already built from the same go.mod/go.sum and flags is skipped; the Go
# build cache makes a rebuild after a pin change fast. Nothing built here is linked into ambit.
#
#   scripts/setup-k8s.sh                      kube-apiserver kubectl etcd helm (what tests use now)
#   scripts/setup-k8s.sh kubelet kube-scheduler ...   only the named components
#   scripts/setup-k8s.sh --node               what a real node needs besides the default set:
#                                             the Kubernetes daemons, containerd, runc, CNI, crictl
#   scripts/setup-k8s.sh --observability      Jaeger all-in-one (the waypoint's trace collector
#                                             in the e2e tests), pinned in tests/k8s/tools/jaeger,
#                                             and Prometheus with Kubernetes discovery (the
#                                             k8s-node test), pinned in tests/k8s/tools/prometheus
#   scripts/setup-k8s.sh --all                the default set, --node and --observability (what
#                                             the k8s-node tests check for; etcdctl only by name)
#   scripts/setup-k8s.sh --check [names]      exit 0 if built and current, else 1 naming what is not
#   scripts/setup-k8s.sh --print-bin-dir      the directory the binaries land in
#
# Binaries land in ${AMBIT_K8S_BIN:-/var/cache/ambit/k8s-bin/<kubernetes version>}; the CNI
# plugins in its cni/ subdirectory. The node's runtime (containerd, runc, CNI plugins, crictl) is
# pinned in tests/k8s/tools/node/go.mod, a module of its own so that the two dependency graphs
# cannot move each other's pins. Nothing is checked out from git; everything comes through the
# proxy. Jaeger v1 (github.com/jaegertracing/jaeger cmd/all-in-one) has a module of its own too,
# tests/k8s/tools/jaeger/go.mod. So has Prometheus (github.com/prometheus/prometheus
# cmd/prometheus, with Kubernetes service discovery alone: Debian's build has none),
# tests/k8s/tools/prometheus/go.mod.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/tests/k8s/tools"
NODE_TOOLS="$TOOLS/node"
PROXY_TOOLS="$TOOLS/proxy"
DNS_TOOLS="$TOOLS/dns"
JAEGER_TOOLS="$TOOLS/jaeger"
PROMETHEUS_TOOLS="$TOOLS/prometheus"
DEFAULT_COMPONENTS=(kube-apiserver kubectl etcd helm)
NODE_COMPONENTS=(kube-controller-manager kube-scheduler kubelet kube-proxy coredns containerd
  containerd-shim-runc-v2 ctr runc crictl cni/bridge cni/host-local cni/loopback)
OBSERVABILITY_COMPONENTS=(jaeger-all-in-one prometheus)
ALL_COMPONENTS=("${DEFAULT_COMPONENTS[@]}" "${NODE_COMPONENTS[@]}"
  "${OBSERVABILITY_COMPONENTS[@]}")

die() { echo "setup-k8s: $*" >&2; exit 1; }

# The version a go.mod requires for a module (read without running go, so --check needs no Go).
pinned() {
  local v dir=${2:-$TOOLS}
  v=$(awk -v m="$1" '$1 == "require" && $2 == m { print $3; exit }
    $1 == m && $2 ~ /^v/ { print $2; exit }' "$dir/go.mod")
  [[ -n "$v" ]] || die "$1 is not required in $dir/go.mod"
  echo "$v"
}

K8S_VERSION=$(pinned k8s.io/kubernetes)
HELM_VERSION=$(pinned helm.sh/helm/v4)
ETCD_VERSION=$(pinned go.etcd.io/etcd/server/v3)
CONTAINERD_VERSION=$(pinned github.com/containerd/containerd/v2 "$NODE_TOOLS")
CNI_PLUGINS_VERSION=$(pinned github.com/containernetworking/plugins "$NODE_TOOLS")
CRI_TOOLS_VERSION=$(pinned sigs.k8s.io/cri-tools "$NODE_TOOLS")
COREDNS_VERSION=$(pinned github.com/coredns/coredns "$DNS_TOOLS")
[[ "$(pinned k8s.io/kubernetes "$PROXY_TOOLS")" == "$K8S_VERSION" ]] ||
  die "$PROXY_TOOLS/go.mod pins k8s.io/kubernetes $(pinned k8s.io/kubernetes "$PROXY_TOOLS"), not" \
    "$K8S_VERSION as $TOOLS/go.mod does: kube-proxy must be of the cluster's release"
JAEGER_VERSION=$(pinned github.com/jaegertracing/jaeger "$JAEGER_TOOLS")
PROMETHEUS_VERSION=$(pinned github.com/prometheus/prometheus "$PROMETHEUS_TOOLS")
BIN_DIR=${AMBIT_K8S_BIN:-/var/cache/ambit/k8s-bin/$K8S_VERSION}
# Static binaries (as the projects' releases are), no local paths or VCS state inside; runc is
# the exception (cgo_of).
export CGO_ENABLED=0
GO_BUILD_FLAGS=(-trimpath -buildvcs=false)

# The module directory a component is built in.
module_dir_of() {
  case "$1" in
    containerd* | ctr | runc | crictl | cni/*) echo "$NODE_TOOLS" ;;
    kube-proxy) echo "$PROXY_TOOLS" ;;
    coredns) echo "$DNS_TOOLS" ;;
    jaeger-all-in-one) echo "$JAEGER_TOOLS" ;;
    prometheus) echo "$PROMETHEUS_TOOLS" ;;
    *) echo "$TOOLS" ;;
  esac
}

# runc links libseccomp (cgo, Debian's libseccomp-dev): containerd hands it the RuntimeDefault
# seccomp profile of every pod that asks for one (the chart's pods do), and a runc built without
# seccomp refuses such a container instead of running it unconfined.
cgo_of() { [[ $1 == runc ]] && echo 1 || echo 0; }
# Prometheus: of its service discovery plugins only Kubernetes' (plugins/plugin_*.go build tags).
tags_of() {
  case "$1" in
    runc) echo seccomp ;;
    prometheus) echo remove_all_sd,enable_kubernetes_sd ;;
  esac
}

package_of() {
  case "$1" in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kubectl | kube-proxy)
      echo "k8s.io/kubernetes/cmd/$1" ;;
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    etcdctl) echo go.etcd.io/etcd/etcdctl/v3 ;;
    helm) echo helm.sh/helm/v4/cmd/helm ;;
    coredns) echo ambit/tests/k8s/tools/dns ;;  # main.go there: CoreDNS with its k8s plugins
    containerd | containerd-shim-runc-v2 | ctr) echo "github.com/containerd/containerd/v2/cmd/$1" ;;
    runc) echo github.com/opencontainers/runc ;;
    crictl) echo sigs.k8s.io/cri-tools/cmd/crictl ;;
    jaeger-all-in-one) echo github.com/jaegertracing/jaeger/cmd/all-in-one ;;
    prometheus) echo github.com/prometheus/prometheus/cmd/prometheus ;;
    cni/host-local) echo github.com/containernetworking/plugins/plugins/ipam/host-local ;;
    cni/bridge | cni/loopback)
      echo "github.com/containernetworking/plugins/plugins/main/${1#cni/}" ;;
    *) die "unknown component '$1' (known: ${ALL_COMPONENTS[*]})" ;;
  esac
}

# Version stamping, as the projects' own release builds do (kubernetes hack/lib/version.sh,
# helm's Makefile): kubectl refuses a server it cannot place, and the apiserver derives its
# compatibility version from gitVersion. The module proxy carries no commit id, so gitCommit
# stays empty rather than invented.
ldflags_of() {
  local flags="-s -w" major minor rest pkg
  case "$1" in
    kube-*|kubelet|kubectl)
      IFS=. read -r major minor rest <<<"${K8S_VERSION#v}"
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
        flags+=" -X $pkg.gitCommit= -X $pkg.gitTreeState=clean -X $pkg.buildDate=$BUILD_DATE"
      done ;;
    helm)
      flags+=" -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION"
      flags+=" -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
    etcd|etcdctl)
      flags+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=module-$ETCD_VERSION" ;;
    containerd*|ctr)
      pkg=github.com/containerd/containerd/v2
      flags+=" -X $pkg/version.Version=${CONTAINERD_VERSION#v} -X $pkg/version.Package=$pkg" ;;
    crictl) flags+=" -X sigs.k8s.io/cri-tools/pkg/version.Version=${CRI_TOOLS_VERSION#v}" ;;
    coredns) flags+=" -X github.com/coredns/coredns/coremain.GitCommit=module-$COREDNS_VERSION" ;;
    jaeger-all-in-one)
      flags+=" -X github.com/jaegertracing/jaeger/internal/version.latestVersion=$JAEGER_VERSION" ;;
    prometheus)
      # Module v0.3XX.Y is release 3.XX.Y (v0.316.0 -> 3.16.0).
      IFS=. read -r major minor rest <<<"${PROMETHEUS_VERSION#v}"
      flags+=" -X github.com/prometheus/common/version.Version=3.$((10#${minor:1})).$rest"
      flags+=" -X github.com/prometheus/common/version.Branch=module-$PROMETHEUS_VERSION" ;;
    cni/*)
      pkg=github.com/containernetworking/plugins/pkg/utils/buildversion
      flags+=" -X $pkg.BuildVersion=$CNI_PLUGINS_VERSION" ;;
  esac
  echo "$flags"
}

# What a built binary must match to be reused: the pins (go.mod without its comments, go.sum)
# and the flags (BUILD_DATE follows from the pins, so it is left out and --check needs no Go),
# then the Go toolchain that built it.
pins_of() {
  local dir flags="CGO_ENABLED=$(cgo_of "$1") ${GO_BUILD_FLAGS[*]}"
  dir=$(module_dir_of "$1")
  [[ -z "$(tags_of "$1")" ]] || flags+=" -tags $(tags_of "$1")"
  { grep -v '^[[:space:]]*//' "$dir/go.mod"; cat "$dir/go.sum" "$dir"/*.go 2>/dev/null; echo "$1"
    echo "$flags"; BUILD_DATE= ldflags_of "$1"; } |
    sha256sum | cut -d' ' -f1
}

# Where the record of a binary's pins lives: beside it, hidden (cni/bridge -> cni/.bridge.stamp).
stamp_file() { echo "$BIN_DIR/$(dirname "$1")/.$(basename "$1").stamp"; }

# "<pins> <go version>" of a built binary, empty when it was never built.
stamp_in_bin_dir() {
  [[ -x "$BIN_DIR/$1" && -f "$(stamp_file "$1")" ]] && cat "$(stamp_file "$1")" || true
}

mode=build
components=()
for arg in "$@"; do
  case "$arg" in
    --all) components+=("${ALL_COMPONENTS[@]}") ;;
    --node) components+=("${NODE_COMPONENTS[@]}") ;;
    --observability) components+=("${OBSERVABILITY_COMPONENTS[@]}") ;;
    --check) mode=check ;;
    --print-bin-dir) echo "$BIN_DIR"; exit 0 ;;
    -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg'" ;;
    *) package_of "$arg" >/dev/null; components+=("$arg") ;;
  esac
done
((${#components[@]})) || components=("${DEFAULT_COMPONENTS[@]}")

# --check runs without Go: a binary is current when it was built from these pins and flags.
if [[ $mode == check ]]; then
  missing=()
  for c in "${components[@]}"; do
    stamp=$(stamp_in_bin_dir "$c")
    if [[ -z "$stamp" ]]; then
      missing+=("$c (no $BIN_DIR/$c)")
    elif [[ "${stamp%% *}" != "$(pins_of "$c")" ]]; then
      missing+=("$c (built from other pins than $TOOLS/go.mod)")
    fi
  done
  if ((${#missing[@]})); then
    printf 'setup-k8s: not built for kubernetes %s: %s; run scripts/setup-k8s.sh %s\n' \
      "$K8S_VERSION" "$(IFS=,; echo "${missing[*]}" | sed 's/,/, /g')" "${components[*]}" >&2
    exit 1
  fi
  exit 0
fi

# The cluster harness (tests/k8s/cluster) needs these from Debian; Go itself is not packaged
# in a recent enough version. A node also needs libseccomp-dev (runc) and umoci (the image
# builder, scripts/build-images.sh), curl (the k8s-node test's client image) and nft
# (kube-proxy).
packages=(openssl python3)
[[ " ${components[*]} " != *" runc "* ]] || packages+=(libseccomp-dev pkg-config)
[[ " ${components[*]} " != *" containerd "* ]] || packages+=(umoci curl)
# kube-proxy's nftables mode programs the kernel through the nft command.
[[ " ${components[*]} " != *" kube-proxy "* ]] || packages+=(nftables)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-k8s: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The newest `go` line of the modules built from (the node's dependencies need a newer patch).
need=$(awk '$1 == "go" { print $2 }' "$TOOLS/go.mod" "$NODE_TOOLS/go.mod" "$JAEGER_TOOLS/go.mod" \
  "$PROMETHEUS_TOOLS/go.mod" | sort -V | tail -1)
command -v go >/dev/null ||
  die "needs the Go toolchain ('go' on PATH, go $need or newer; bookworm's golang package is" \
    "older: install it from go.dev/dl)"
export GOTOOLCHAIN=local
GO_VERSION=$(go env GOVERSION)
go_newer_or_equal() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" == "$2" ]]; }
go_newer_or_equal "${GO_VERSION#go}" "$need" ||
  die "$GO_VERSION is older than the go $need that $TOOLS/go.mod or $NODE_TOOLS/go.mod needs"

mkdir -p "$BIN_DIR" 2>/dev/null && [[ -w "$BIN_DIR" ]] ||
  die "cannot write $BIN_DIR (run as root or set AMBIT_K8S_BIN to a writable directory)"
exec 9>"$BIN_DIR/.lock"
flock 9 # another checkout building into the same directory finishes first

cd "$TOOLS"
[[ " ${components[*]} " != *" containerd "* ]] ||
  echo "setup-k8s: node runtime: containerd $CONTAINERD_VERSION, runc" \
    "$(pinned github.com/opencontainers/runc "$NODE_TOOLS"), CNI plugins $CNI_PLUGINS_VERSION," \
    "cri-tools $CRI_TOOLS_VERSION, CoreDNS $COREDNS_VERSION"
[[ " ${components[*]} " != *" jaeger-all-in-one "* ]] ||
  echo "setup-k8s: jaeger $JAEGER_VERSION (all-in-one, in-memory storage)"
[[ " ${components[*]} " != *" prometheus "* ]] ||
  echo "setup-k8s: prometheus $PROMETHEUS_VERSION (Kubernetes service discovery only)"
# The release date of the pinned kubernetes module: reproducible, unlike the build time.
BUILD_DATE=$(go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
echo "setup-k8s: kubernetes $K8S_VERSION, etcd $ETCD_VERSION, helm $HELM_VERSION" \
  "($GO_VERSION) -> $BIN_DIR"
for c in "${components[@]}"; do
  if [[ "$(stamp_in_bin_dir "$c")" == "$(pins_of "$c") $GO_VERSION" ]]; then
    echo "setup-k8s: $c is current"
    continue
  fi
  start=$SECONDS
  package=$(package_of "$c")
  tmp="$BIN_DIR/$(dirname "$c")/.$(basename "$c").tmp"
  mkdir -p "$(dirname "$tmp")"
  (cd "$(module_dir_of "$c")" && CGO_ENABLED=$(cgo_of "$c") go build "${GO_BUILD_FLAGS[@]}" \
    -tags "$(tags_of "$c")" -ldflags "$(ldflags_of "$c")" -o "$tmp" "$package") ||
    die "building $c ($package) failed"
  mv -f "$tmp" "$BIN_DIR/$c"
  echo "$(pins_of "$c") $GO_VERSION" >"$(stamp_file "$c")"
  echo "setup-k8s: built $c in $((SECONDS - start)) s"
done
