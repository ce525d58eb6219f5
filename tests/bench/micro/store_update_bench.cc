// ResourceStore::update with a large type: the cost of one push (one workload changed) when
// the store holds N workloads. Plain timing, no Google Benchmark, so that the same source
// builds against an older resource_store.cc for a before/after comparison:
//   build/bench/store_update_bench [--workloads N] [--updates M]
// prints the mean wall time of one single-upsert update(). Before/after: copy an older
// common/discovery/resource_store.{h,cc} (git show) into DIR/common/discovery and compile this
// file and that resource_store.cc with -IDIR ahead of the source root, linking the same libraries.

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "ambit/v1/workload.pb.h"
#include "common/discovery/resource_store.h"

namespace {

using ambit::config::MeshType;
using ambit::discovery::packResource;
using ambit::discovery::ResourceStore;
using ambit::discovery::ResourceUpsert;
using Clock = std::chrono::steady_clock;

ambit::v1::Workload workload(int index, int generation) {
  ambit::v1::Workload w;
  w.set_uid(fmt::format("default/pod-{}", index));
  w.set_name(fmt::format("pod-{}", index));
  w.set_namespace_("default");
  w.add_addresses(fmt::format("10.{}.{}.{}", (index >> 16) & 255, (index >> 8) & 255, index & 255));
  w.set_node(fmt::format("node-{}", generation));
  (*w.mutable_labels())["app"] = fmt::format("app-{}", index % 100);
  return w;
}

std::string nameOf(int index) { return fmt::format("default/pod-{}", index); }

int intFlag(int argc, char** argv, std::string_view flag, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (argv[i] == flag) return std::atoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int workloads = intFlag(argc, argv, "--workloads", 10000);
  const int updates = intFlag(argc, argv, "--updates", 2000);
  if (workloads <= 0 || updates <= 0) {
    fmt::print(stderr, "--workloads and --updates must be positive\n");
    return 2;
  }
  ResourceStore store;
  std::vector<ResourceUpsert> initial;
  initial.reserve(static_cast<size_t>(workloads));
  for (int i = 0; i < workloads; ++i) initial.push_back({nameOf(i), packResource(workload(i, 0))});
  store.update(MeshType::kWorkload, std::move(initial), {});

  // Prepared outside the timed loop: the loop measures update() only.
  std::vector<ResourceUpsert> pushes;
  pushes.reserve(static_cast<size_t>(updates));
  for (int u = 0; u < updates; ++u) {
    int index = static_cast<int>((static_cast<int64_t>(u) * 7919) % workloads);
    pushes.push_back({nameOf(index), packResource(workload(index, u + 1))});
  }
  int changed = 0;
  auto start = Clock::now();
  for (ResourceUpsert& push : pushes) {
    std::vector<ResourceUpsert> one;
    one.push_back(std::move(push));
    changed += store.update(MeshType::kWorkload, std::move(one), {}) ? 1 : 0;
  }
  double update_us =
      std::chrono::duration<double, std::micro>(Clock::now() - start).count() / updates;
  if (changed != updates) {
    fmt::print(stderr, "expected {} changing updates, got {}\n", updates, changed);
    return 1;
  }
  fmt::print("workloads={} updates={} update(one upsert): {:.2f} us/update\n", workloads, updates,
             update_us);
  return 0;
}
