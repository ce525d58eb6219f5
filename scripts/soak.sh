#!/usr/bin/env bash
# Soak test (not CI): brings up its own lab with a waypoint, short-lived workload certificates
# and an extra pod (`ambitctl lab up --name soak --waypoint --cert-ttl 180 --extra-pod
# extra:node2`), runs mixed L4 + waypoint HTTP traffic with configuration churn (policies,
# routes, the extra pod leaving and rejoining the mesh) for --minutes, samples every daemon's
# RSS, fds, threads and CPU each minute, watches the certificates rotate, and fails on a daemon
# restart, RSS/fd growth after warm-up, an unexpected request failure, a change not in effect
# within 5 s or a certificate not replaced within 2 x --rotation-seconds (thresholds and the
# traffic: tests/soak/soak.py). Always tears the lab down. Needs root and a build
# (scripts/build.sh); holds /tmp/ambit-e2e.lock for the whole run (the lab shares fixed names
# with the e2e tests).
#   scripts/soak.sh [--minutes N]           default 60
#                   [--churn-seconds S]     one configuration change every S seconds (default 30)
#                   [--l4-rate R]           new L4 connections per second (default 50)
#                   [--http-rate R]         HTTP requests/s through the waypoint (default 100)
#                   [--cert-ttl S]          workload certificate TTL of the lab (default 180: the
#                                           daemons renew about every (S - 60) / 2 = 60 s)
#                   [--rotation-seconds S]  interval the rotation check expects (default 60)
#                   [--out DIR]             CSV files + report (default build/soak/<UTC time>)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,21p' "$0"; }
driver_args=()
out=""
cert_ttl=180
while (($#)); do
  case "$1" in
    --minutes|--churn-seconds|--l4-rate|--http-rate|--rotation-seconds)
      (($# >= 2)) || { echo "soak.sh: $1 needs a value" >&2; exit 2; }
      driver_args+=("$1" "$2"); shift 2 ;;
    --cert-ttl)
      (($# >= 2)) || { echo "soak.sh: --cert-ttl needs seconds" >&2; exit 2; }
      cert_ttl=$2; shift 2 ;;
    --out)
      (($# >= 2)) || { echo "soak.sh: --out needs a directory" >&2; exit 2; }
      out=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "soak.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
if [[ $EUID -ne 0 ]]; then
  echo "soak.sh: must run as root (the lab creates network namespaces and cgroups)" >&2
  exit 1
fi

LOCK=/tmp/ambit-e2e.lock
if [[ -z ${AMBIT_SOAK_LOCKED:-} ]]; then
  echo "soak.sh: waiting for $LOCK"
  export AMBIT_SOAK_LOCKED=1
  exec flock "$LOCK" "$0" "${driver_args[@]}" --cert-ttl "$cert_ttl" ${out:+--out "$out"}
fi

BUILD_DIR=${AMBIT_BUILD_DIR:-build}
CTL="$PWD/$BUILD_DIR/bin/ambitctl"
LAB=soak
EXTRA_POD=extra  # on node2; the churn takes it out of the mesh and back in
OUT=$(realpath -m "${out:-$BUILD_DIR/soak/$(date -u +%Y%m%dT%H%M%SZ)}")
for bin in ambitctl ambit-agent ambit-ztunnel ambit-waypoint ambit-sample-app; do
  if [[ ! -x "$BUILD_DIR/bin/$bin" ]]; then
    echo "soak.sh: $BUILD_DIR/bin/$bin missing: run scripts/build.sh" >&2
    exit 1
  fi
done
mkdir -p "$OUT"
lab_pids="$OUT/lab-pids.txt"

# Every PID the lab ever reported (daemons, pods, supervisor), for the leftover check.
remember_lab_pids() {
  "$CTL" lab status --name "$LAB" -o json 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
for p in s["daemons"] + s["pods"] + [s["supervisor"]]:
    if p.get("pid"):
        print(p["pid"])' >>"$lab_pids" || true
}

# The driver's PID if it still runs (it writes it; checked against its command line).
driver_pid() {
  local pid
  pid=$(cat "$OUT/driver.pid" 2>/dev/null) || return 1
  grep -qa tests/soak/soak.py "/proc/$pid/cmdline" 2>/dev/null && echo "$pid"
}

cleanup() {
  local rc=$? pid leftovers=0
  trap - EXIT INT TERM
  if pid=$(driver_pid); then  # give it time to write its report, then end it
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  remember_lab_pids
  echo "soak.sh: tearing the lab down"
  "$CTL" lab down --name "$LAB" || { echo "soak.sh: lab down failed" >&2; leftovers=1; }
  while read -r pid; do
    if [[ -d /proc/$pid ]] && grep -qa "$LAB" "/proc/$pid/cmdline" 2>/dev/null; then
      echo "soak.sh: LEFTOVER process $pid: $(tr '\0' ' ' <"/proc/$pid/cmdline")" >&2
      leftovers=1
    fi
  done < <(sort -u "$lab_pids" 2>/dev/null)
  if ip netns list | grep -q "^$LAB-"; then
    echo "soak.sh: LEFTOVER netns: $(ip netns list | grep "^$LAB-" | tr '\n' ' ')" >&2
    leftovers=1
  fi
  ((leftovers)) && ((rc == 0)) && rc=1
  echo "soak.sh: output in $OUT; exit $rc"
  exit "$rc"
}

"$CTL" lab down --name "$LAB" >/dev/null  # a lab left by an interrupted earlier run
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

up_args=(--name "$LAB" --waypoint --cert-ttl "$cert_ttl" --extra-pod "$EXTRA_POD:node2")
echo "soak.sh: ambitctl lab up ${up_args[*]}"
"$CTL" lab up "${up_args[@]}" >"$OUT/lab-up.log"
remember_lab_pids
for node in node1 node2; do
  for _ in $(seq 300); do
    ip netns exec "$LAB-$node" curl -sf -m 1 http://127.0.0.1:15021/healthz/ready >/dev/null &&
      break
    sleep 0.1
  done
done
for _ in $(seq 300); do
  "$CTL" lab exec --name "$LAB" waypoint -- curl -sf -m 1 http://127.0.0.1:15021/healthz/ready \
    >/dev/null && break
  sleep 0.1
done

# The driver runs inside the client pod (its netns and cgroup), so its traffic is captured.
"$CTL" lab exec --name "$LAB" client -- /usr/bin/python3 "$PWD/tests/soak/soak.py" \
  --lab "$LAB" --ctl "$CTL" --out "$OUT" --extra-pod "$EXTRA_POD" "${driver_args[@]}" &
wait $! || exit $?
