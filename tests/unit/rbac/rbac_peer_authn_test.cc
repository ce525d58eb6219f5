// PeerAuthentication precedence: workload selector > namespace > mesh-wide, port-level
// overrides, UNSET inheritance, default PERMISSIVE.
#include "tests/unit/rbac/rbac_test_util.h"

namespace ambit::rbac::testing {
namespace {

using PA = v1::PeerAuthentication;

PA peer(const std::string& text) { return parseProto<PA>(text); }

struct PeerCase {
  const char* name;
  std::vector<const char*> policies;
  uint32_t port;
  PA::Mode expected;
};

void PrintTo(const PeerCase& c, std::ostream* os) { *os << c.name; }

const PeerCase kCases[] = {
    {"default_permissive", {}, 8080, PA::PERMISSIVE},
    {"mesh_strict", {R"(name: "m" namespace: "istio-system" mode: STRICT)"}, 8080, PA::STRICT},
    {"mesh_flag",
     {R"(name: "m" namespace: "elsewhere" mesh_wide: true mode: STRICT)"},
     8080,
     PA::STRICT},
    {"namespace_over_mesh",
     {R"(name: "m" namespace: "istio-system" mode: STRICT)",
      R"(name: "n" namespace: "foo" mode: PERMISSIVE)"},
     8080,
     PA::PERMISSIVE},
    {"other_namespace_ignored",
     {R"(name: "n" namespace: "bar" mode: STRICT)"},
     8080,
     PA::PERMISSIVE},
    {"workload_over_namespace",
     {R"(name: "n" namespace: "foo" mode: PERMISSIVE)",
      R"(name: "w" namespace: "foo" selector { key: "app" value: "web" } mode: STRICT)"},
     8080,
     PA::STRICT},
    {"workload_selector_mismatch",
     {R"(name: "n" namespace: "foo" mode: PERMISSIVE)",
      R"(name: "w" namespace: "foo" selector { key: "app" value: "db" } mode: STRICT)"},
     8080,
     PA::PERMISSIVE},
    {"root_selector_is_not_mesh_wide",
     {R"(name: "w" namespace: "istio-system" selector { key: "app" value: "web" } mode: STRICT)"},
     8080,
     PA::PERMISSIVE},
    {"workload_unset_inherits_namespace",
     {R"(name: "n" namespace: "foo" mode: STRICT)",
      R"(name: "w" namespace: "foo" selector { key: "app" value: "web" } mode: UNSET)"},
     8080,
     PA::STRICT},
    {"namespace_unset_inherits_mesh",
     {R"(name: "m" namespace: "istio-system" mode: STRICT)", R"(name: "n" namespace: "foo")"},
     8080,
     PA::STRICT},
    {"port_level_override",
     {R"(name: "w" namespace: "foo" selector { key: "app" value: "web" } mode: STRICT
         port_level_mtls { key: 8080 value: PERMISSIVE })"},
     8080,
     PA::PERMISSIVE},
    {"port_level_other_port",
     {R"(name: "w" namespace: "foo" selector { key: "app" value: "web" } mode: STRICT
         port_level_mtls { key: 8080 value: PERMISSIVE })"},
     9090,
     PA::STRICT},
    {"port_level_unset_inherits",
     {R"(name: "n" namespace: "foo" mode: STRICT)",
      R"(name: "w" namespace: "foo" selector { key: "app" value: "web" }
         port_level_mtls { key: 8080 value: UNSET })"},
     8080,
     PA::STRICT},
    {"port_level_strict_over_permissive_ns",
     {R"(name: "n" namespace: "foo" mode: PERMISSIVE)",
      R"(name: "w" namespace: "foo" selector { key: "app" value: "web" }
         port_level_mtls { key: 8080 value: STRICT })"},
     8080,
     PA::STRICT},
    {"workload_mode_beats_namespace_port_level",
     {R"(name: "n" namespace: "foo" mode: PERMISSIVE port_level_mtls { key: 8080 value: STRICT })",
      R"(name: "w" namespace: "foo" selector { key: "app" value: "web" } mode: DISABLE)"},
     8080,
     PA::DISABLE},
    {"oldest_by_name_wins",
     {R"(name: "b" namespace: "foo" mode: PERMISSIVE)",
      R"(name: "a" namespace: "foo" mode: STRICT)"},
     8080,
     PA::STRICT},
};

class PeerAuthnTest : public ::testing::TestWithParam<PeerCase> {};

TEST_P(PeerAuthnTest, EffectiveMode) {
  const PeerCase& c = GetParam();
  std::vector<PA> pas;
  for (const char* p : c.policies) pas.push_back(peer(p));
  const auto set = compileOk({}, pas);
  Labels l;
  l["app"] = "web";
  const Target t{.ns = "foo", .labels = &l};
  EXPECT_EQ(set->effectiveMtls(t, c.port), c.expected);
  EXPECT_EQ(set->plaintextAllowed(t, c.port), c.expected != PA::STRICT);
}

INSTANTIATE_TEST_SUITE_P(Rbac, PeerAuthnTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RbacPeerAuthn, InvalidPortLevelIsError) {
  const auto set = compile(
      {}, {peer(R"(name: "w" namespace: "foo" port_level_mtls { key: 70000 value: STRICT })")},
      "istio-system");
  ASSERT_FALSE(set.isOk());
  EXPECT_THAT(set.error().message,
              ::testing::HasSubstr("PeerAuthentication foo/w: portLevelMtls: invalid port 70000"));
}

}  // namespace
}  // namespace ambit::rbac::testing
