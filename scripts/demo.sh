#!/usr/bin/env bash
# The ambit demo: builds ambit, brings up the single-machine lab (2 nodes, 3 pods as network
# namespaces) and shows pods talking to each other over IPv4 and IPv6, on one node and across
# nodes. Needs root.
#   scripts/demo.sh            leave the lab up at the end (tear down with: ambitctl lab down)
#   scripts/demo.sh --down     tear the lab down at the end
#   scripts/demo.sh --no-build skip setup.sh and build.sh (use an existing build)
set -euo pipefail
cd "$(dirname "$0")/.."

down=0
build=1
for arg in "$@"; do
  case "$arg" in
    --down) down=1 ;;
    --no-build) build=0 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $EUID -ne 0 ]]; then
  echo "demo.sh: must run as root (the lab creates network namespaces and cgroups)" >&2
  exit 1
fi

BUILD_DIR=${AMBIT_BUILD_DIR:-build}
CTL="$BUILD_DIR/bin/ambitctl"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if ((build)); then
  step "Installing dependencies (scripts/setup.sh)"
  scripts/setup.sh
  step "Building (scripts/build.sh)"
  scripts/build.sh
fi

step "Bringing up the lab: ambitctl lab up"
"$CTL" lab up
step "Lab status: ambitctl lab status"
"$CTL" lab status

status_json() { "$CTL" lab status -o json; }
pod_ip() {  # pod_ip <pod> <ipv4|ipv6>
  status_json | python3 -c \
    "import json,sys; print(next(p['$2'] for p in json.load(sys.stdin)['pods'] if p['name']=='$1'))"
}
call() {  # call <from-pod> <url>
  printf '\n$ ambitctl lab exec %s -- curl -sS %s\n' "$1" "$2"
  "$CTL" lab exec "$1" -- curl -sS -m 5 "$2" | python3 -m json.tool
}

step "client (node1) -> my-app-v1 (node1), same node"
call client "http://$(pod_ip my-app-v1 ipv4):8080/hello"
call client "http://[$(pod_ip my-app-v1 ipv6)]:8080/hello"
step "client (node1) -> my-app-v2 (node2), across nodes via the underlay"
call client "http://$(pod_ip my-app-v2 ipv4):8080/hello"
call client "http://[$(pod_ip my-app-v2 ipv6)]:8080/hello"

if ((down)); then
  step "Tearing the lab down: ambitctl lab down"
  "$CTL" lab down
  echo "lab removed"
else
  step "The lab is still up"
  config_dir=$(status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["config_dir"])')
  echo "  mesh config (Kubernetes-shaped YAML): $config_dir"
  echo "  run a command in a pod:  $CTL lab exec client -- curl -s http://$(pod_ip my-app-v2 ipv4):8080/"
  echo "  tear it down:            $CTL lab down"
fi
