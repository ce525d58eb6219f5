#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang + ASan + UBSan) into ./build-fuzz and runs
# each for N seconds on its committed seed corpus, then prints a table: executions, exec/s,
# corpus size and findings per target. Exits non-zero when any target found something
# (a crash, sanitizer report, leak, timeout or out-of-memory); the reproducer is kept in
# build-fuzz/findings/<target>/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default 20 s, every target
#   AMBIT_FUZZ_JOBS=2 scripts/fuzz.sh 600     run two targets at a time
#   AMBIT_FUZZ_CPU_SECONDS=3600 scripts/fuzz.sh 14400 hbone_server
#       stop each target once it has used 3600 s of CPU (or at 14400 s wall time, whichever
#       comes first): "one CPU-hour" on a machine busy with other work
#   AMBIT_FUZZ_NICE=19                        the fuzzers' niceness (default 10)
# New inputs a run discovers go to build-fuzz/corpus/<target>/ (the committed seeds under
# tests/fuzz/<target>/corpus are only read); to keep good ones, minimise and copy them over:
#   build-fuzz/fuzz/<target> -merge=1 tests/fuzz/<target>/corpus build-fuzz/corpus/<target>
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-20}
shift || true
BUILD_DIR=${AMBIT_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=${AMBIT_FUZZ_JOBS:-1}
CPU_SECONDS=${AMBIT_FUZZ_CPU_SECONDS:-0}
NICENESS=${AMBIT_FUZZ_NICE:-10}
[[ $CPU_SECONDS =~ ^[0-9]+$ ]] || { echo "fuzz: AMBIT_FUZZ_CPU_SECONDS must be a whole number of seconds, not '$CPU_SECONDS'" >&2; exit 2; }
[[ $NICENESS =~ ^[0-9]+$ && $NICENESS -le 19 ]] || { echo "fuzz: AMBIT_FUZZ_NICE must be 0-19, not '$NICENESS'" >&2; exit 2; }
[[ $SECONDS_PER_TARGET =~ ^[0-9]+$ ]] || { echo "fuzz: SECONDS must be a whole number, not '$SECONDS_PER_TARGET'" >&2; exit 2; }
TICKS=$(getconf CLK_TCK)

# Debug (assertions on) at -O1 with line tables: the usual fuzzing trade-off of speed against
# build time and useful stack traces.
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B "$BUILD_DIR" -G Ninja -DAMBIT_FUZZ=ON \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -gline-tables-only" \
    -DCMAKE_CXX_FLAGS_DEBUG="-O1 -gline-tables-only" >/dev/null
fi
cmake --build "$BUILD_DIR" --target ambit_fuzzers -j"$(nproc)"

if (($# == 0)); then
  mapfile -t TARGETS < <(find tests/fuzz -mindepth 2 -maxdepth 2 -name fuzz.cc -printf '%h\n' |
    xargs -n1 basename | sort)
else
  TARGETS=("$@")
fi

# Each invocation logs into a directory of its own: a smoke run beside a long run of the same
# target must not truncate the long run's log (its final statistics are the figures).
LOG_DIR="$BUILD_DIR/fuzz-logs/$(date -u +%Y%m%dT%H%M%S)-$$"

run_target() {
  local t=$1 log="$LOG_DIR/$1.log" rc=0
  mkdir -p "$BUILD_DIR/corpus/$t" "$BUILD_DIR/findings/$t" "$LOG_DIR"
  # -rss_limit_mb: the waypoint buffers up to 16 MiB bodies; 2 GiB flags only real blow-ups.
  # The CPU budget below ends a run with SIGINT: libFuzzer prints its final statistics and exits
  # 72, which is then no finding.
  nice -n "$NICENESS" "$BUILD_DIR/fuzz/$t" -max_total_time="$SECONDS_PER_TARGET" \
    -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -artifact_prefix="$BUILD_DIR/findings/$t/" \
    "$BUILD_DIR/corpus/$t" "tests/fuzz/$t/corpus" >"$log" 2>&1 &
  local pid=$! cpu=0 budget_used=0
  if ((CPU_SECONDS > 0)); then
    # utime + stime (fields 14 and 15 of /proc/PID/stat; the command name is field 2 and
    # contains no spaces here) until the budget is used.
    while kill -0 "$pid" 2>/dev/null; do
      cpu=$(awk -v t="$TICKS" '{print int(($14 + $15) / t)}' "/proc/$pid/stat" 2>/dev/null) || break
      if ((cpu >= CPU_SECONDS)); then
        kill -INT "$pid" 2>/dev/null && budget_used=1
        break
      fi
      sleep 5
    done
  fi
  wait "$pid" || rc=$?
  if ((budget_used && rc == 72)); then
    rc=0
    echo "fuzz: $t stopped after ${cpu}s of CPU" >>"$log"
  fi
  echo "$rc" >"$log.rc"
}

echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each, $JOBS at a time"
running=0
for t in "${TARGETS[@]}"; do
  [[ -x "$BUILD_DIR/fuzz/$t" ]] || { echo "fuzz: no target $t" >&2; exit 2; }
  run_target "$t" &
  running=$((running + 1))
  if ((running >= JOBS)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
printf '%-20s %14s %10s %8s %10s  %s\n' target executions exec/s corpus findings status
for t in "${TARGETS[@]}"; do
  log="$LOG_DIR/$t.log"
  rc=$(cat "$log.rc")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  corpus=$(find "$BUILD_DIR/corpus/$t" "tests/fuzz/$t/corpus" -type f | wc -l)
  findings=$(find "$BUILD_DIR/findings/$t" -type f | wc -l)
  status=ok
  if [[ $rc -ne 0 || $findings -ne 0 ]]; then
    status="FAILED (exit $rc, log $log)"
    failed=1
  fi
  printf '%-20s %14s %10s %8s %10s  %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$findings" \
    "$status"
done
if ((failed)); then
  echo "fuzz: findings above; reproduce with $BUILD_DIR/fuzz/<target> <file in $BUILD_DIR/findings/<target>/>" >&2
  for t in "${TARGETS[@]}"; do
    if [[ $(cat "$LOG_DIR/$t.log.rc") -ne 0 ]]; then
      echo "---- $t" >&2
      grep -m1 -A25 -E '^==[0-9]+==ERROR|runtime error|^SUMMARY|deadly signal' \
        "$LOG_DIR/$t.log" >&2 || tail -30 "$LOG_DIR/$t.log" >&2
    fi
  done
fi
exit $failed
