#!/usr/bin/env bash
# The benchmark command (issue 6): installs, builds, brings up its own lab, runs every scenario
# (ambit against direct and against stunnel / nginx / haproxy), tears the lab down and prints a
# markdown table (also written to the results file).
#   tests/bench/run.sh                 full run (lab "bench", ~13 min on 2 cores)
#   tests/bench/run.sh --quick         short durations (lab "benchq", ~3.5 min; the ctest)
#   tests/bench/run.sh --no-build      skip setup.sh and build.sh
#   tests/bench/run.sh --out FILE      results file (default build/bench/results[-quick].md)
#   tests/bench/run.sh --quick --profile   quick run plus the perf profile (a full run always
#                                          profiles the ztunnels and the waypoint under load)
# Needs root (the lab creates network namespaces and loads BPF).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ $EUID -ne 0 ]]; then
  echo "tests/bench/run.sh: must run as root (the lab creates netns and loads BPF)" >&2
  exit 1
fi
build=1
args=()
for a in "$@"; do
  if [[ $a == --no-build ]]; then build=0; else args+=("$a"); fi
done
if ((build)); then
  scripts/setup.sh
  scripts/build.sh
fi
exec /usr/bin/python3 tests/bench/bench.py --build-dir "${AMBIT_BUILD_DIR:-build}" "${args[@]}"
