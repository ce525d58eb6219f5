#!/usr/bin/env bash
# Configures and builds ambit into ./build (Ninja, RelWithDebInfo). Used by test.sh and demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${AMBIT_BUILD_DIR:-build}
# Configures a new build directory, and again when scripts/setup-static-libs.sh made new
# archives since (the node daemons' link takes them only from a configure that saw them).
stamp=${AMBIT_STATIC_LIBS:-/var/cache/ambit/static-libs}/VERSIONS
if [[ ! -f "$BUILD_DIR/build.ninja" ]] ||
   [[ -f $stamp && $stamp -nt "$BUILD_DIR/CMakeCache.txt" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo}
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
