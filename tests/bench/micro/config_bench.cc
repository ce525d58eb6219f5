// Configuration translation (config::translate: YAML -> MeshSnapshot) at 10k and 100k
// workloads (tests/support/large_mesh.h). The YAML is generated once; each iteration parses and
// translates all of it (what the agent, ztunnel and waypoint do on every config change).
#include <benchmark/benchmark.h>

#include <stdexcept>

#include "common/config/loader.h"
#include "tests/support/large_mesh.h"

namespace ambit::config {
namespace {

void BM_Translate(benchmark::State& state) {
  const auto docs = test::largeMesh(static_cast<int>(state.range(0)));
  size_t workloads = 0;
  for (auto _ : state) {
    LoadResult r = translate(docs);
    if (!r.ok()) throw std::runtime_error(r.errors.front().toString());
    workloads = static_cast<size_t>(r.snapshot.workloads_size());
    benchmark::DoNotOptimize(r);
  }
  state.counters["workloads"] = static_cast<double>(workloads);
}

BENCHMARK(BM_Translate)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Translate)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace
}  // namespace ambit::config
