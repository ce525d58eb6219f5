// The hot path contract: CompiledPolicySet::evaluate() allocates nothing. Counts global
// operator new calls made while evaluating.
#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/unit/rbac/rbac_test_util.h"

namespace {
std::atomic<bool> g_counting{false};
std::atomic<int> g_allocations{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC cannot tell that these pair with the replacement operator new above.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace ambit::rbac::testing {
namespace {

TEST(RbacHotPath, EvaluateDoesNotAllocate) {
  const auto set = compileOk({
      authz(R"(name: "deny" namespace: "foo" action: DENY
               rules { from { not_namespaces { prefix: "cli" } } to { not_paths { exact: "/x" } } })"),
      authz(R"(name: "audit" namespace: "istio-system" action: AUDIT rules {})"),
      authz(R"(name: "allow" namespace: "foo" selector { key: "app" value: "web" }
               rules { from { principals { suffix: "/sa/app" } ip_blocks: "10.0.0.0/8" }
                       to { hosts { suffix: ".cluster.local" } paths { prefix: "/api/" } }
                       when { key: "request.headers[x-user]" values: "alice" }
                       when { key: "request.auth.claims[nested][key]" values: "deep" }
                       when { key: "destination.port" values: "8080" } })"),
  });
  Labels l;
  l["app"] = "web";
  Request req;
  const Target t{.ns = "foo", .labels = &l};
  g_allocations = 0;
  g_counting = true;
  Decision d;
  for (const Mode mode : {Mode::kL4, Mode::kL7}) d = set->evaluate(t, req.attrs, mode);
  const Decision l4_again = set->evaluate(t, req.attrs, Mode::kL4);
  g_counting = false;
  EXPECT_EQ(g_allocations.load(), 0);
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.policy, "foo/allow");
  EXPECT_EQ(d.audit_policy, "istio-system/audit");
  EXPECT_FALSE(l4_again.allowed);  // the ALLOW rule needs L7
}

}  // namespace
}  // namespace ambit::rbac::testing
