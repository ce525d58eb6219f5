#!/usr/bin/env bash
# Builds ambit with AddressSanitizer (+ LeakSanitizer) and UndefinedBehaviorSanitizer into
# ./build-sanitize and runs the unit suite under them (docs/hardening.md).
#   scripts/sanitize.sh                  ctest -L unit
#   scripts/sanitize.sh -R Jwt           arguments go to ctest (e.g. another label or a regex)
#   AMBIT_SANITIZE=thread scripts/sanitize.sh   other sanitizers (a fresh build dir per set)
# Compiler: the default (gcc); CC=clang CXX=clang++ works too. Kernel and e2e tests under the
# sanitizers need root and the machine-wide lock: flock /tmp/ambit-e2e.lock scripts/sanitize.sh -L e2e
set -euo pipefail
cd "$(dirname "$0")/.."
SANITIZERS=${AMBIT_SANITIZE:-address,undefined}
BUILD_DIR=${AMBIT_SANITIZE_BUILD_DIR:-build-sanitize}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DAMBIT_SANITIZE="$SANITIZERS" -DCMAKE_BUILD_TYPE=Debug \
    -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
# Every process of the run (test binaries, and the daemons the kernel and e2e tests start) writes
# its sanitizer reports to files under one directory: a daemon's report, e.g. a leak found when it
# exits after SIGTERM, never reaches ctest's output, so the run fails when any file is there.
REPORTS=$(mktemp -d /tmp/ambit-sanitize.XXXXXX)
base_asan=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export ASAN_OPTIONS="$base_asan:log_path=$REPORTS/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$REPORTS/ubsan"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizer/lsan.supp:print_suppressions=0}
cd "$BUILD_DIR"
if (($# == 0)); then
  set -- -L unit
fi
rc=0
ctest --output-on-failure --no-tests=error "$@" || rc=$?
shopt -s nullglob
reports=("$REPORTS"/*)
if ((${#reports[@]})); then
  echo "sanitize: ${#reports[@]} sanitizer report(s):" >&2
  for r in "${reports[@]}"; do
    echo "=== $r" >&2
    head -n 80 "$r" >&2
  done
  ((rc != 0)) || rc=1
else
  echo "sanitize: no sanitizer report from any process ($REPORTS)" >&2
  rmdir "$REPORTS"
fi
exit "$rc"
