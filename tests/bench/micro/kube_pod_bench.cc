// One Pod from the API server into the mesh model's input, the two ways ambit-control has had:
// the general API path (a YAML copy of the object, then the shared kind translator) and the
// direct JSON path for Pods (common/config/kube_pod.h). Both on the same realistic pod (what
// a kube-apiserver sends: managedFields, container specs, statuses); parsing the watch line's
// JSON, which both need first, is timed alone for scale.
//   build/bench/kube_pod_bench --benchmark_min_time=0.5
#include <benchmark/benchmark.h>

#include <map>
#include <stdexcept>

#include "common/config/kube_object.h"
#include "common/config/kube_pod.h"
#include "common/config/model.h"
#include "tests/unit/config/kube_objects.h"

namespace ambit::config {
namespace {

nlohmann::json pod() {
  testing::PodSpec p;
  p.ns = "bench-3";
  p.name = "pod-4711";
  p.labels = {{"app", "svc-11"}, {"pod-template-hash", "7d9f8c6b5"}};
  p.ips = {"10.64.18.103"};
  return testing::apiPod(p);
}

void BM_ParseWatchLine(benchmark::State& state) {
  const std::string line = nlohmann::json{{"type", "MODIFIED"}, {"object", pod()}}.dump();
  for (auto _ : state) benchmark::DoNotOptimize(nlohmann::json::parse(line));
}

void BM_PodViaYaml(benchmark::State& state) {
  const nlohmann::json object = pod();
  const LoaderOptions options;
  for (auto _ : state) {
    ConfigErrors errors;
    auto res = kubeObjectResource(object, errors, "Pod", "v1");
    if (!res) throw std::runtime_error("pod not identified");
    PartialModel model;
    std::map<std::string, const Resource*> seen;
    translateResource(*res, options, model, seen, errors);
    if (!errors.empty() || model.workloads.empty()) throw std::runtime_error("pod rejected");
    benchmark::DoNotOptimize(model);
  }
}

void BM_PodViaJson(benchmark::State& state) {
  const nlohmann::json object = pod();
  const LoaderOptions options;
  for (auto _ : state) {
    ConfigErrors errors;
    auto translated = translateKubePod(object, "v1", options, errors);
    if (!translated || !errors.empty() || !translated->workload)
      throw std::runtime_error("pod rejected");
    benchmark::DoNotOptimize(translated);
  }
}

BENCHMARK(BM_ParseWatchLine)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PodViaYaml)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PodViaJson)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace ambit::config
