#!/usr/bin/env bash
# Fails when the binary $1 carries gRPC's runtime: a gRPC shared library among its needed
# libraries, or gRPC core symbols linked in (the static build).
set -euo pipefail
bin=$1
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if grep -E '^lib(grpc|gpr|upb)' <<<"$needed"; then
  echo "FAIL: $bin needs the gRPC shared libraries above" >&2
  exit 1
fi
# grpc_init and the grpc_core namespace are in every build of the runtime.
found=$(nm "$bin" | grep -cE ' (grpc_init|_ZN9grpc_core)' || true)
if [[ $found -gt 0 ]]; then
  echo "FAIL: $bin links $found gRPC core symbols, e.g.:" >&2
  nm -C "$bin" | grep -E ' (grpc_init|grpc_core::)' | head -5 >&2
  exit 1
fi
# The check itself must see symbols: a stripped binary would pass vacuously.
if [[ $(nm "$bin" | grep -c ' T ') -lt 100 ]]; then
  echo "FAIL: $bin has no symbol table to check" >&2
  exit 1
fi
echo "ok: $bin carries no gRPC runtime (needed: $(tr '\n' ' ' <<<"$needed"))"
