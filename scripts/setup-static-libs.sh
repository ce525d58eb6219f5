#!/usr/bin/env bash
# Builds static archives of fmt, spdlog and prometheus-cpp (core) for ambit-ztunnel's link, from
# Debian's own source packages of the exact versions whose headers scripts/setup.sh installed.
#
# Why: Debian ships these three as shared libraries only, and each needs libstdc++.so. While any
# of them is shared, the ztunnel must load libstdc++.so too, and a loaded libstdc++ keeps ~1.7 MB
# resident (its text, and its symbol tables and relocations that the loader reads at every
# start). With their archives, cmake/static-link.sh links all of them and libstdc++ itself
# statically, and the ztunnel keeps only the libstdc++ code it runs (BENCHMARKS.md, issue 13).
#
# Output: ${AMBIT_STATIC_LIBS:-/var/cache/ambit/static-libs}/lib/lib{fmt,spdlog,prometheus-cpp-
# core}.a and a VERSIONS stamp. Idempotent: a second run with the same versions does nothing.
# Sources come from deb.debian.org (deb-src of bookworm) through a private apt list directory:
# the machine's apt configuration is not changed. Nothing of these projects is committed here.
set -euo pipefail

OUT=${AMBIT_STATIC_LIBS:-/var/cache/ambit/static-libs}
# source package -> the -dev package whose headers ambit compiles against (same source version)
declare -A DEV=([fmtlib]=libfmt-dev [spdlog]=libspdlog-dev [prometheus-cpp]=prometheus-cpp-dev)
ORDER=(fmtlib spdlog prometheus-cpp)

versions=""
for src in "${ORDER[@]}"; do
  v=$(dpkg-query -W -f='${source:Version}' "${DEV[$src]}" 2>/dev/null) ||
    { echo "setup-static-libs: ${DEV[$src]} is not installed (run scripts/setup.sh)" >&2; exit 1; }
  versions+="$src=$v"$'\n'
done
if [[ -f $OUT/VERSIONS && $(cat "$OUT/VERSIONS") == "${versions%$'\n'}" ]]; then
  echo "setup-static-libs: archives present in $OUT"
  exit 0
fi

work=$(mktemp -d /tmp/ambit-static-libs.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sources.list.d" "$work/lists/partial" "$work/src" "$work/stage/lib"
cat > "$work/sources.list.d/debian-src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_private=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/sources.list.d"
             -o "Dir::State::Lists=$work/lists" -o APT::Sandbox::User=root)
echo "setup-static-libs: fetching Debian sources: $(tr '\n' ' ' <<< "${versions%$'\n'}")"
apt-get "${apt_private[@]}" update -qq
cd "$work/src"
while IFS== read -r src v; do
  apt-get "${apt_private[@]}" source -qq "$src=$v" >/dev/null
done <<< "${versions%$'\n'}"

# The flags of ambit's own build of the ztunnel: one section per function and per datum so the
# link's --gc-sections drops what the ztunnel does not call; position-independent (PIE).
flags="-O2 -g -ffunction-sections -fdata-sections -DNDEBUG"
build() {  # build DIR TARGET CMAKE_ARGS...
  local dir=$1 target=$2
  shift 2
  cmake -S "$dir" -B "$dir/ambit-build" -G Ninja --no-warn-unused-cli -DCMAKE_BUILD_TYPE=None \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_POSITION_INDEPENDENT_CODE=ON \
    -DBUILD_SHARED_LIBS=OFF "$@" >/dev/null
  cmake --build "$dir/ambit-build" --target "$target" -j"$(nproc)" >/dev/null
}
build fmtlib-*/ fmt -DFMT_DOC=OFF -DFMT_TEST=OFF -DFMT_INSTALL=OFF
build spdlog-*/ spdlog -DSPDLOG_FMT_EXTERNAL=ON -DSPDLOG_BUILD_SHARED=OFF \
  -DSPDLOG_BUILD_EXAMPLE=OFF -DSPDLOG_BUILD_TESTS=OFF
build prometheus-cpp-*/ core -DENABLE_PULL=OFF -DENABLE_PUSH=OFF -DENABLE_COMPRESSION=OFF \
  -DENABLE_TESTING=OFF -DUSE_THIRDPARTY_LIBRARIES=OFF
for a in libfmt.a libspdlog.a libprometheus-cpp-core.a; do
  found=$(find . -path '*/ambit-build/*' -name "$a" | head -1)
  [[ -n $found ]] || { echo "setup-static-libs: the build made no $a" >&2; exit 1; }
  cp "$found" "$work/stage/lib/$a"
done
printf '%s' "${versions%$'\n'}" > "$work/stage/VERSIONS"
rm -rf "$OUT.new"
mkdir -p "$(dirname "$OUT")"
cp -r "$work/stage" "$OUT.new"
rm -rf "$OUT"
mv "$OUT.new" "$OUT"
echo "setup-static-libs: built $(ls "$OUT/lib" | tr '\n' ' ')in $OUT"
