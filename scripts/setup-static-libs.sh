#!/usr/bin/env bash
# Builds static archives of fmt, spdlog and prometheus-cpp (core) for the static link of the
# node's daemons (ambit-ztunnel, ambit-agent, ambit-waypoint), from Debian's own source packages
# of the exact versions whose headers scripts/setup.sh installed.
#
# Why: Debian ships these three as shared libraries only, and each needs libstdc++.so. While any
# of them is shared, those daemons must load libstdc++.so too, and a loaded libstdc++ keeps
# ~1.7 MB resident (its text, and its symbol tables and relocations that the loader reads at
# every start). With their archives, cmake/static-link.sh links all of them and libstdc++ itself
# statically, and each daemon keeps only the libstdc++ code it runs (BENCHMARKS.md, sessions 21
# and 23).
#
# Output: ${AMBIT_STATIC_LIBS:-/var/cache/ambit/static-libs}/lib/lib{fmt,spdlog,prometheus-cpp-
# core}.a and a VERSIONS stamp (the source versions and this recipe's revision). Idempotent: a
# second run with the same stamp and archives does nothing. A rebuild first removes the old
# output, so a failed one leaves no stale archives (CMake then links the ztunnel shared, with a
# warning). Sources come from deb.debian.org (deb-src of bookworm and its updates) through a
# private apt list and cache directory: the machine's apt configuration, lists and caches are not
# touched. Nothing of these projects is committed here.
set -euo pipefail

RECIPE=1  # bump when the build below changes: the stamp then no longer matches
OUT=${AMBIT_STATIC_LIBS:-/var/cache/ambit/static-libs}
OUT=${OUT%/}
[[ $OUT == /?* ]] || { echo "setup-static-libs: AMBIT_STATIC_LIBS must be an absolute path other than /" >&2; exit 1; }
ARCHIVES=(libfmt.a libspdlog.a libprometheus-cpp-core.a)
# source package -> the -dev package whose headers ambit compiles against (same source version)
declare -A DEV=([fmtlib]=libfmt-dev [spdlog]=libspdlog-dev [prometheus-cpp]=prometheus-cpp-dev)
ORDER=(fmtlib spdlog prometheus-cpp)

fail() {
  echo "setup-static-libs: $*" >&2
  exit 1
}

stamp="recipe=$RECIPE"
for src in "${ORDER[@]}"; do
  v=$(dpkg-query -W -f='${source:Version}' "${DEV[$src]}" 2>/dev/null) ||
    fail "${DEV[$src]} is not installed (run scripts/setup.sh)"
  stamp+=$'\n'"$src=$v"
done
complete=true
for a in "${ARCHIVES[@]}"; do [[ -f $OUT/lib/$a ]] || complete=false; done
if $complete && [[ -f $OUT/VERSIONS && $(cat "$OUT/VERSIONS") == "$stamp" ]]; then
  echo "setup-static-libs: archives present in $OUT"
  exit 0
fi
# Only ever replace our own output.
if [[ -e $OUT && ! -f $OUT/VERSIONS ]] && [[ -n $(ls -A "$OUT" 2>/dev/null) ]]; then
  fail "$OUT exists, is not empty and has no VERSIONS stamp: not ours to replace" \
    "(set AMBIT_STATIC_LIBS to another directory)"
fi
mkdir -p "$(dirname "$OUT")" || fail "cannot create $(dirname "$OUT") (run as root)"
[[ -w $(dirname "$OUT") ]] || fail "$(dirname "$OUT") is not writable (run as root)"
rm -rf "$OUT"

work=$(mktemp -d /tmp/ambit-static-libs.XXXXXX)
trap 'rm -rf "$work" "$OUT.new"' EXIT
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/cache/archives/partial" \
  "$work/src" "$work/stage/lib"
cat > "$work/sources.list.d/debian-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat > "$work/apt.conf" <<EOF
Dir::Etc::SourceList "/dev/null";
Dir::Etc::SourceParts "$work/sources.list.d";
Dir::State::Lists "$work/lists";
Dir::Cache "$work/cache";
APT::Sandbox::User "root";
APT::Update::Error-Mode "any";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
apt_private=(-c "$work/apt.conf")
echo "setup-static-libs: fetching Debian sources: $(tail -n +2 <<< "$stamp" | tr '\n' ' ')"
apt-get "${apt_private[@]}" update -qq </dev/null ||
  fail "apt-get update of bookworm's deb-src indexes from deb.debian.org failed"
cd "$work/src"
while IFS== read -r src v; do
  apt-get "${apt_private[@]}" source -qq "$src=$v" </dev/null >"$work/$src.fetch.log" 2>&1 ||
    fail "apt-get source $src=$v (the installed ${DEV[$src]}'s source) failed:" \
      "$(tail -3 "$work/$src.fetch.log")"
done < <(tail -n +2 <<< "$stamp")

# The flags of ambit's own build of the ztunnel: one section per function and per datum so the
# link's --gc-sections drops what the ztunnel does not call; position-independent (PIE).
flags="-O2 -g -ffunction-sections -fdata-sections -DNDEBUG"
build() {  # build SOURCE_PACKAGE TARGET CMAKE_ARGS...
  local src=$1 target=$2 dir
  shift 2
  dir=$(find . -maxdepth 1 -type d -name "$src-*" -print -quit)
  [[ -n $dir ]] || fail "no unpacked source of $src"
  if ! { cmake -S "$dir" -B "$dir/ambit-build" -G Ninja --no-warn-unused-cli \
           -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="$flags" \
           -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF "$@" &&
         cmake --build "$dir/ambit-build" --target "$target" -j"$(nproc)"; } \
       >"$work/$src.build.log" 2>&1; then
    fail "building $src's static library failed; the end of its log:"$'\n'"$(tail -20 \
      "$work/$src.build.log")"
  fi
}
build fmtlib fmt -DFMT_DOC=OFF -DFMT_TEST=OFF -DFMT_INSTALL=OFF
build spdlog spdlog -DSPDLOG_FMT_EXTERNAL=ON -DSPDLOG_BUILD_SHARED=OFF \
  -DSPDLOG_BUILD_EXAMPLE=OFF -DSPDLOG_BUILD_TESTS=OFF
build prometheus-cpp core -DENABLE_PULL=OFF -DENABLE_PUSH=OFF -DENABLE_COMPRESSION=OFF \
  -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF
for a in "${ARCHIVES[@]}"; do
  found=$(find . -path '*/ambit-build/*' -name "$a" -print -quit)
  [[ -n $found ]] || fail "the build made no $a"
  cp "$found" "$work/stage/lib/$a"
done
printf '%s' "$stamp" > "$work/stage/VERSIONS"
cp -r "$work/stage" "$OUT.new"
mv "$OUT.new" "$OUT"
echo "setup-static-libs: built ${ARCHIVES[*]} in $OUT"
