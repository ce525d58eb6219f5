#!/usr/bin/env bash
# scripts/setup-static-libs.sh's refusals and its idempotent path, without the network: a bad
# AMBIT_STATIC_LIBS is refused with a message naming it, a directory that is not its own output
# is never replaced, and archives with a matching stamp are kept as they are. ($1: the repo.)
set -euo pipefail
repo=$1
script=$repo/scripts/setup-static-libs.sh
tmp=$(mktemp -d /tmp/ambit-setup-static-libs-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() {  # check NAME EXPECTED_RC EXPECTED_MESSAGE_PART -- ENV...
  local name=$1 want_rc=$2 want=$3 rc=0
  shift 4
  env "$@" "$script" >"$tmp/out" 2>&1 || rc=$?
  if [[ $rc != "$want_rc" ]] || ! grep -qF -- "$want" "$tmp/out"; then
    echo "FAIL: $name: exit $rc (want $want_rc), output:"
    sed 's/^/  /' "$tmp/out"
    failures=$((failures + 1))
  else
    echo "ok: $name"
  fi
}

check "relative path" 1 "AMBIT_STATIC_LIBS must be an absolute path" -- AMBIT_STATIC_LIBS=rel/dir
check "the root" 1 "AMBIT_STATIC_LIBS must be an absolute path" -- AMBIT_STATIC_LIBS=/

mkdir -p "$tmp/foreign"
echo keep > "$tmp/foreign/data"
check "a foreign directory" 1 "has no VERSIONS stamp: not ours to replace" -- \
  AMBIT_STATIC_LIBS="$tmp/foreign/"
[[ $(cat "$tmp/foreign/data" 2>/dev/null) == keep ]] ||
  { echo "FAIL: the foreign directory was changed"; failures=$((failures + 1)); }

# Archives in place with the stamp of the installed versions: nothing to do, nothing touched.
stamp="recipe=$(sed -n 's/^RECIPE=\([0-9]*\).*/\1/p' "$script")"
for pair in fmtlib=libfmt-dev spdlog=libspdlog-dev prometheus-cpp=prometheus-cpp-dev; do
  stamp+=$'\n'"${pair%%=*}=$(dpkg-query -W -f='${source:Version}' "${pair#*=}")"
done
mkdir -p "$tmp/ours/lib"
for a in libfmt.a libspdlog.a libprometheus-cpp-core.a; do echo "$a" > "$tmp/ours/lib/$a"; done
printf '%s' "$stamp" > "$tmp/ours/VERSIONS"
check "present and current" 0 "archives present in $tmp/ours" -- AMBIT_STATIC_LIBS="$tmp/ours"
[[ $(cat "$tmp/ours/lib/libfmt.a") == libfmt.a ]] ||
  { echo "FAIL: current archives were rebuilt"; failures=$((failures + 1)); }

((failures == 0)) || exit 1
