#!/usr/bin/env bash
# Fails when ambit-ztunnel ($1) was not linked the way cmake/AmbitStaticLink.cmake orders it:
# the hottest functions of its order file ($2) must sit together at the start of .text, and the
# relative relocations must be packed (DT_RELR), and with --no-libstdcxx no shared C++
# library may be loaded (libstdc++, spdlog, fmt, prometheus-cpp linked statically). Any of them
# missing costs megabytes of resident memory (BENCHMARKS.md) without breaking anything else, so
# only this test would notice.
set -euo pipefail
no_cxx=false
if [[ ${1:-} == --no-libstdcxx ]]; then
  no_cxx=true
  shift
fi
bin=$1 order=$2 count=500
dynamic=$(readelf -d "$bin")
if ! grep -q '(RELR)' <<<"$dynamic"; then
  echo "FAIL: $bin has no DT_RELR (packed relative relocations)" >&2
  exit 1
fi
if $no_cxx; then
  # What the loader maps, followed down (ldd): a library the ztunnel needs could bring one too.
  cxx=$(ldd "$bin" | awk '$1 ~ /^lib(stdc\+\+|spdlog|fmt|prometheus-cpp)/ {print $1}' | tr '\n' ' ')
  if [[ -n $cxx ]]; then
    echo "FAIL: $bin loads shared C++ libraries: $cxx(cmake/static-link.sh links them statically" \
      "when scripts/setup-static-libs.sh has built their archives)" >&2
    exit 1
  fi
fi
read -r text_addr text_size < <(readelf -SW "$bin" |
  awk '$2 == ".text" { print $4, $6 } $3 == ".text" { print $5, $7 }' | head -1)
[[ -n ${text_addr:-} ]] || { echo "FAIL: $bin has no .text section" >&2; exit 1; }
# The first $count symbols of the order file, where nm finds them, must lie in the first 30 %
# of .text: unordered, the hottest functions are spread over all of it.
python3 - "$bin" "$order" "$count" "$text_addr" "$text_size" <<'PY'
import subprocess, sys
binary, order, count, start, size = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4], 16), int(sys.argv[5], 16)
wanted = [l.strip() for l in open(order) if l.strip() and not l.startswith("#")][:count]
addr = {}
for line in subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                           check=True).stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[1] in "tTwW":
        addr.setdefault(f[2], int(f[0], 16))
if not wanted:
    sys.exit(f"FAIL: {order} lists no symbols: regenerate it (tests/bench/hot_functions.py)")
found = [(addr[n], n) for n in wanted if n in addr]
if len(found) < 0.9 * len(wanted):
    sys.exit(f"FAIL: only {len(found)} of the first {len(wanted)} symbols of {order} are in "
             f"{binary}: regenerate it (tests/bench/hot_functions.py)")
limit = start + 0.3 * size
late = [(a, n) for a, n in found if not start <= a < limit]
if late:
    a, n = max(late)
    sys.exit(f"FAIL: {len(late)} of the {len(found)} hottest functions lie outside the first 30 % "
             f"of .text, e.g. {n} at +{(a - start) / 1024:.0f} KiB of {size / 1024:.0f} KiB: "
             "the link did not apply the order file")
print(f"ok: {len(found)} of the first {len(wanted)} ordered symbols within "
      f"+{(max(found)[0] - start) / 1024:.0f} KiB of {size / 1024:.0f} KiB of .text; DT_RELR")
PY
