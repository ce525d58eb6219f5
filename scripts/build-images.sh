#!/usr/bin/env bash
# Builds OCI images of ambit's own binaries without a registry or a daemon (Debian's umoci), for
# nodes that run them with imagePullPolicy Never/IfNotPresent (tests/k8s/cluster/node.py, the
# Helm chart's `image.*` values).
#
#   scripts/build-images.sh [--out DIR] [--tag TAG] [--import SOCKET --ctr CTR] BINARY...
#
# Each BINARY becomes the image localhost/<basename>:<TAG> with the binary (debug sections
# stripped) at /usr/local/bin/<basename> as its entrypoint; its root filesystem is the binary and its shared
# library closure (ldd), nothing else. The word `pause` instead of a path builds
# localhost/ambit-pause:<TAG> from images/pause/pause.c (static, entrypoint /pause), the pod
# sandbox image. Every image is written as an OCI archive DIR/<name>.tar (DIR defaults to
# build/images, TAG to the chart's appVersion); with --import each archive is also imported
# into the containerd at SOCKET (namespace k8s.io, the CRI's) by the given ctr.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
die() { echo "build-images: $*" >&2; exit 1; }

out="$ROOT/build/images"
tag=$(awk '$1 == "appVersion:" { gsub(/"/, "", $2); print $2 }' \
  "$ROOT/deploy/helm/ambit/Chart.yaml")
socket="" ctr=""
binaries=()
while (($#)); do
  case "$1" in
    --out) out=$2; shift ;;
    --tag) tag=$2; shift ;;
    --import) socket=$2; shift ;;
    --ctr) ctr=$2; shift ;;
    -h | --help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$1'" ;;
    *) binaries+=("$1") ;;
  esac
  shift
done
((${#binaries[@]})) || die "no binaries given (see --help)"
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$tag' is not an image tag"
[[ -z "$socket" || -x "$ctr" ]] || die "--import needs --ctr with an executable ctr"
command -v umoci >/dev/null ||
  die "needs umoci (apt-get install umoci, or scripts/setup-k8s.sh --node)"

mkdir -p "$out"
work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Copies a file into the root filesystem at the same path, following links to the real file.
copy_into() {
  mkdir -p "$2/$(dirname "$1")"
  cp -L "$1" "$2/$1"
}

# The binary's shared-library closure as absolute paths (ldd already resolves it transitively),
# the dynamic loader included. A static binary has none.
libraries_of() {
  local output
  if ! output=$(ldd "$1" 2>&1); then
    [[ "$output" == *"not a dynamic executable"* ]] && return 0
    die "ldd $1: $output"
  fi
  if grep -q "not found" <<<"$output"; then die "$1: a library is missing: $output"; fi
  awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$output" | sort -u
}

# build_image NAME ROOTFS ENTRYPOINT: an OCI archive $out/NAME.tar tagged $tag.
build_image() {
  local name=$1 rootfs=$2 entrypoint=$3 layout="$work/$1.oci"
  mkdir -p "$rootfs/tmp" && chmod 1777 "$rootfs/tmp"
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci insert --image "$layout:$tag" "$rootfs" /
  umoci config --image "$layout:$tag" --os linux --architecture amd64 \
    --config.entrypoint "$entrypoint" --config.workingdir / \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin
  umoci gc --layout "$layout"
  tar -C "$layout" --sort=name --owner=0 --group=0 -cf "$out/.$name.tar.tmp" .
  mv -f "$out/.$name.tar.tmp" "$out/$name.tar"
  if [[ -n "$socket" ]]; then
    "$ctr" --address "$socket" -n k8s.io images import --base-name "localhost/$name" \
      "$out/$name.tar" >/dev/null || die "importing $out/$name.tar into $socket failed"
  fi
  echo "build-images: localhost/$name:$tag -> $out/$name.tar"
}

for binary in "${binaries[@]}"; do
  if [[ "$binary" == pause ]]; then
    rootfs="$work/ambit-pause.rootfs"
    mkdir -p "$rootfs"
    cc -O2 -Wall -Wextra -Werror -static -o "$rootfs/pause" "$ROOT/images/pause/pause.c" ||
      die "compiling images/pause/pause.c failed (needs gcc and libc6-dev)"
    build_image ambit-pause "$rootfs" /pause
    continue
  fi
  [[ -f "$binary" && -x "$binary" ]] || die "$binary is not an executable file"
  name=$(basename "$binary")
  [[ "$name" =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "'$name' cannot name an image"
  rootfs="$work/$name.rootfs"
  mkdir -p "$rootfs/usr/local/bin"
  # Without its debug sections (RelWithDebInfo binaries are mostly DWARF): the symbols stay
  # for backtraces, the image is a fraction of the size and builds and imports in seconds.
  strip --strip-debug -o "$rootfs/usr/local/bin/$name" "$binary" ||
    die "strip --strip-debug $binary failed (needs binutils)"
  while read -r library; do
    [[ -z "$library" ]] || copy_into "$library" "$rootfs"
  done < <(libraries_of "$binary")
  build_image "$name" "$rootfs" "/usr/local/bin/$name"
done
