#!/usr/bin/env bash
# Configures and builds ambit into ./build (Ninja, RelWithDebInfo). Used by test.sh and demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${AMBIT_BUILD_DIR:-build}
if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE:-RelWithDebInfo}
fi
cmake --build "$BUILD_DIR" -j"$(nproc)"
