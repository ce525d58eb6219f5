// rbac evaluation cost with 1k policies: all applying to one workload (worst case: every
// policy is checked before the last one matches) and spread over 100 namespaces.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "common/rbac/rbac.h"

namespace ambit::rbac {
namespace {

v1::AuthorizationPolicy allowPolicy(int i, const std::string& ns) {
  v1::AuthorizationPolicy p;
  p.set_name(fmt::format("p{}", i));
  p.set_namespace_(ns);
  (*p.mutable_selector())["app"] = "web";
  auto* rule = p.add_rules();
  auto* src = rule->add_from();
  src->add_principals()->set_exact(fmt::format("cluster.local/ns/client/sa/sa{}", i));
  src->add_ip_blocks(fmt::format("10.{}.{}.0/24", i / 256, i % 256));
  auto* op = rule->add_to();
  op->add_ports(8080);
  op->add_paths()->set_prefix(fmt::format("/api/{}/", i));
  op->add_methods()->set_exact("GET");
  auto* when = rule->add_when();
  when->set_key("request.headers[x-tenant]");
  when->add_values(fmt::format("tenant-{}", i));
  return p;
}

std::shared_ptr<const CompiledPolicySet> buildSet(int namespaces) {
  std::vector<v1::AuthorizationPolicy> policies;
  for (int i = 0; i < 1000; ++i)
    policies.push_back(allowPolicy(i, fmt::format("ns{}", i % namespaces)));
  auto set = compile(policies, {}, "istio-system");
  if (!set) throw std::runtime_error(set.error().message);
  return *set;
}

void run(benchmark::State& state, int namespaces, Mode mode) {
  const auto set = buildSet(namespaces);
  Labels labels;
  labels["app"] = "web";
  const int last = 999;
  HeaderList headers{{"x-tenant", fmt::format("tenant-{}", last)}};
  const std::string principal = fmt::format("spiffe://cluster.local/ns/client/sa/sa{}", last);
  const std::string path = fmt::format("/api/{}/items", last);
  Attributes a;
  a.source_ip = *IpAddress::parse(fmt::format("10.{}.{}.7", last / 256, last % 256));
  a.destination_ip = *IpAddress::parse("10.200.0.1");
  a.destination_port = 8080;
  a.source_principal = principal;
  a.method = "GET";
  a.path = path;
  a.headers = &headers;
  const std::string ns = fmt::format("ns{}", last % namespaces);
  const Target t{.ns = ns, .labels = &labels};
  for (auto _ : state) {
    benchmark::DoNotOptimize(set->evaluate(t, a, mode));
  }
}

void BM_L4_1kPoliciesOneNamespace(benchmark::State& s) { run(s, 1, Mode::kL4); }
void BM_L7_1kPoliciesOneNamespace(benchmark::State& s) { run(s, 1, Mode::kL7); }
void BM_L7_1kPolicies100Namespaces(benchmark::State& s) { run(s, 100, Mode::kL7); }

void BM_Compile1kPolicies(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(buildSet(1));
}

BENCHMARK(BM_L4_1kPoliciesOneNamespace);
BENCHMARK(BM_L7_1kPoliciesOneNamespace);
BENCHMARK(BM_L7_1kPolicies100Namespaces);
BENCHMARK(BM_Compile1kPolicies)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ambit::rbac
