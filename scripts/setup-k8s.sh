#!/usr/bin/env bash
# Builds the test-only Kubernetes components (DESIGN.md §8-9) from the Go modules pinned in
# tests/k8s/tools/go.mod, through the Go module proxy, into a directory outside the repository.
# Idempotent: a binary already built from the same go.mod/go.sum and flags is skipped; the Go
# build cache makes a rebuild after a pin change fast. Nothing built here is linked into ambit.
#
#   scripts/setup-k8s.sh                      kube-apiserver kubectl etcd helm (what tests use now)
#   scripts/setup-k8s.sh kubelet kube-scheduler ...   only the named components
#   scripts/setup-k8s.sh --all                every component listed below
#   scripts/setup-k8s.sh --check [names]      exit 0 if built and current, else 1 naming what is not
#   scripts/setup-k8s.sh --print-bin-dir      the directory the binaries land in
#
# Binaries land in ${AMBIT_K8S_BIN:-/var/cache/ambit/k8s-bin/<kubernetes version>}.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/tests/k8s/tools"
DEFAULT_COMPONENTS=(kube-apiserver kubectl etcd helm)
ALL_COMPONENTS=("${DEFAULT_COMPONENTS[@]}" etcdctl kube-controller-manager kube-scheduler kubelet)

die() { echo "setup-k8s: $*" >&2; exit 1; }

# The version go.mod requires for a module (read without running go, so --check needs no Go).
pinned() {
  local v
  v=$(awk -v m="$1" '$1 == m && $2 ~ /^v/ { print $2; exit }' "$TOOLS/go.mod")
  [[ -n "$v" ]] || die "$1 is not required in $TOOLS/go.mod"
  echo "$v"
}

K8S_VERSION=$(pinned k8s.io/kubernetes)
HELM_VERSION=$(pinned helm.sh/helm/v4)
ETCD_VERSION=$(pinned go.etcd.io/etcd/server/v3)
BIN_DIR=${AMBIT_K8S_BIN:-/var/cache/ambit/k8s-bin/$K8S_VERSION}
# Static binaries (as the projects' releases are), no local paths or VCS state inside.
export CGO_ENABLED=0
GO_BUILD_FLAGS=(-trimpath -buildvcs=false)

package_of() {
  case "$1" in
    kube-apiserver | kube-controller-manager | kube-scheduler | kubelet | kubectl)
      echo "k8s.io/kubernetes/cmd/$1" ;;
    etcd) echo go.etcd.io/etcd/server/v3 ;;
    etcdctl) echo go.etcd.io/etcd/etcdctl/v3 ;;
    helm) echo helm.sh/helm/v4/cmd/helm ;;
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
  esac
  echo "$flags"
}

# What a built binary must match to be reused: the pins (go.mod without its comments, go.sum)
# and the flags (BUILD_DATE follows from the pins, so it is left out and --check needs no Go),
# then the Go toolchain that built it.
pins_of() {
  { grep -v '^[[:space:]]*//' "$TOOLS/go.mod"; cat "$TOOLS/go.sum"; echo "$1"
    echo "CGO_ENABLED=$CGO_ENABLED ${GO_BUILD_FLAGS[*]}"; BUILD_DATE= ldflags_of "$1"; } |
    sha256sum | cut -d' ' -f1
}

# "<pins> <go version>" of a built binary, empty when it was never built.
stamp_in_bin_dir() {
  [[ -x "$BIN_DIR/$1" && -f "$BIN_DIR/.$1.stamp" ]] && cat "$BIN_DIR/.$1.stamp" || true
}

mode=build
components=()
for arg in "$@"; do
  case "$arg" in
    --all) components+=("${ALL_COMPONENTS[@]}") ;;
    --check) mode=check ;;
    --print-bin-dir) echo "$BIN_DIR"; exit 0 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
# in a recent enough version.
missing=()
for p in openssl python3; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup-k8s: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
need=$(awk '$1 == "go" { print $2 }' "$TOOLS/go.mod")
command -v go >/dev/null ||
  die "needs the Go toolchain ('go' on PATH, go $need or newer; bookworm's golang package is" \
    "older: install it from go.dev/dl)"
export GOTOOLCHAIN=local
GO_VERSION=$(go env GOVERSION)
go_newer_or_equal() { [[ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" == "$2" ]]; }
go_newer_or_equal "${GO_VERSION#go}" "$need" ||
  die "$GO_VERSION is older than the go $need that $TOOLS/go.mod needs"

mkdir -p "$BIN_DIR" 2>/dev/null && [[ -w "$BIN_DIR" ]] ||
  die "cannot write $BIN_DIR (run as root or set AMBIT_K8S_BIN to a writable directory)"
exec 9>"$BIN_DIR/.lock"
flock 9 # another checkout building into the same directory finishes first

cd "$TOOLS"
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
  go build "${GO_BUILD_FLAGS[@]}" -ldflags "$(ldflags_of "$c")" -o "$BIN_DIR/.$c.tmp" "$package" ||
    die "building $c ($package) failed"
  mv -f "$BIN_DIR/.$c.tmp" "$BIN_DIR/$c"
  echo "$(pins_of "$c") $GO_VERSION" >"$BIN_DIR/.$c.stamp"
  echo "setup-k8s: built $c in $((SECONDS - start)) s"
done
