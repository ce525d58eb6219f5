// Incremental translation (config::MeshModel, what ambit-control runs on its config thread) at
// cluster scale: 100,000 pods in 100 namespaces, 1,000 services (100 pods each), 1,000
// AuthorizationPolicies, API-shaped objects (tests/unit/config/kube_objects.h). Loads them,
// then times single changes, each as ambit-control makes it: upsert/remove + takeDelta().
// Not a ctest; prints a table:
//   build/bench/incremental_bench [--pods N] [--ops N]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "common/config/mesh_model.h"
#include "tests/unit/config/kube_objects.h"

namespace ambit::config {
namespace {

using Clock = std::chrono::steady_clock;
using testing::Json;

constexpr int kNamespaces = 100;
constexpr int kServicesPerNamespace = 10;

std::string nsName(int n) { return fmt::format("ns{}", n); }
std::string podIp(int i) {
  return fmt::format("10.{}.{}.{}", 100 + i / 65536, (i / 256) % 256, i % 256);
}

// Pod i: namespace i % 100, service (i / 100) % 10 of that namespace.
Json pod(int i, int service, const std::string& name = "") {
  testing::PodSpec p;
  p.ns = nsName(i % kNamespaces);
  p.name = name.empty() ? fmt::format("pod{}-x", i) : name;
  p.uid = fmt::format("uid-{}", p.name);
  p.labels = {{"app", fmt::format("svc{}", service)},
              {"version", i % 2 ? "v1" : "v2"},
              {"pod-template-hash", "5d7c9"}};
  p.ips = {podIp(i)};
  p.node = fmt::format("node{}", i % 50);
  return testing::apiPod(p);
}

long rssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

struct Timing {
  std::string op;
  std::vector<double> us;
  size_t delta_entries = 0;
};

template <typename Fn>
Timing measure(const std::string& op, int n, MeshModel& model, Fn&& change) {
  Timing t{op, {}, 0};
  t.us.reserve(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    const auto start = Clock::now();
    change(k);
    const MeshDelta d = model.takeDelta();
    t.us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - start).count());
    t.delta_entries += d.size();
  }
  return t;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

void check(const UpsertResult& r) {
  if (r.outcome == UpsertOutcome::kApplied) return;
  fmt::print(stderr, "unexpected {}: {}\n", outcomeName(r.outcome),
             r.errors.empty() ? r.object : r.errors.front().toString());
  std::exit(1);
}

int run(int pods, int ops) {
  MeshModel model;
  std::vector<Json> objects;
  for (int n = 0; n < kNamespaces; ++n) {
    objects.push_back(testing::apiNamespace(nsName(n), {{"istio.io/dataplane-mode", "ambient"}}));
    for (int s = 0; s < kServicesPerNamespace; ++s) {
      const int vip = n * kServicesPerNamespace + s;
      objects.push_back(testing::apiService(nsName(n), fmt::format("svc{}", s),
                                            {{"app", fmt::format("svc{}", s)}},
                                            fmt::format("10.96.{}.{}", vip / 256, vip % 256)));
      objects.push_back(testing::apiAuthorizationPolicy(nsName(n), fmt::format("allow-svc{}", s),
                                                        fmt::format("svc{}", s), "ALLOW"));
    }
  }
  for (int i = 0; i < pods; ++i)
    objects.push_back(pod(i, (i / kNamespaces) % kServicesPerNamespace));
  const long rss_before = rssKb();
  const auto start = Clock::now();
  for (const auto& o : objects) check(model.upsert(o));
  const MeshDelta initial = model.takeDelta();
  const double load_s = std::chrono::duration<double>(Clock::now() - start).count();
  const size_t object_count = objects.size();
  objects.clear();
  fmt::print(
      "Initial load: {} objects ({} pods, {} services, {} AuthorizationPolicies, {} "
      "namespaces) upserted one by one + first takeDelta ({} resources): {:.2f} s "
      "({:.1f} µs/object), RSS +{} MB\n\n",
      object_count, pods, kNamespaces * kServicesPerNamespace, kNamespaces * kServicesPerNamespace,
      kNamespaces, initial.size(), load_s, load_s * 1e6 / static_cast<double>(object_count),
      (rssKb() - rss_before) / 1024);

  // Objects for the timed changes are built before the clock starts: ambit-control gets them
  // parsed from the watch stream.
  std::vector<Json> added, moved, flipped;
  for (int k = 0; k < ops; ++k) {
    const int i = pods + k;
    added.push_back(pod(i, k % kServicesPerNamespace, fmt::format("new{}-x", k)));
    const int victim = (k * 7919) % pods;  // spread over namespaces and services
    const int from = (victim / kNamespaces) % kServicesPerNamespace;
    moved.push_back(pod(victim, (from + 1) % kServicesPerNamespace));
    flipped.push_back(testing::apiNamespace(
        nsName(k % kNamespaces),
        {{"istio.io/dataplane-mode", (k / kNamespaces) % 2 == 0 ? "none" : "ambient"}}));
  }
  std::vector<Timing> rows;
  rows.push_back(measure("pod add", ops, model, [&](int k) { check(model.upsert(added[k])); }));
  rows.push_back(measure("pod label change (moves it to another service)", ops, model,
                         [&](int k) { check(model.upsert(moved[k])); }));
  rows.push_back(measure("pod delete", ops, model, [&](int k) {
    model.remove("Pod", nsName((pods + k) % kNamespaces), fmt::format("new{}-x", k));
  }));
  const int flips = std::min(ops, 1000);
  rows.push_back(measure(fmt::format("namespace label flip ({} pods, {} services in it)",
                                     pods / kNamespaces, kServicesPerNamespace),
                         flips, model, [&](int k) { check(model.upsert(flipped[k])); }));

  fmt::print(
      "| change (upsert/remove + takeDelta) | ops | p50 µs | p99 µs | max µs | delta "
      "entries/op |\n|---|---:|---:|---:|---:|---:|\n");
  for (const auto& r : rows) {
    fmt::print("| {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |\n", r.op, r.us.size(),
               percentile(r.us, 0.5), percentile(r.us, 0.99),
               *std::max_element(r.us.begin(), r.us.end()),
               static_cast<double>(r.delta_entries) / static_cast<double>(r.us.size()));
  }
  return 0;
}

}  // namespace
}  // namespace ambit::config

int main(int argc, char** argv) {
  int pods = 100000, ops = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--pods") {
      pods = std::atoi(argv[i + 1]);
    } else if (flag == "--ops") {
      ops = std::atoi(argv[i + 1]);
    } else {
      fmt::print(stderr, "usage: incremental_bench [--pods N] [--ops N]\n");
      return 2;
    }
  }
  if (pods < 1000 || ops < 1) {
    fmt::print(stderr, "--pods must be at least 1000 and --ops at least 1\n");
    return 2;
  }
  return ambit::config::run(pods, ops);
}
