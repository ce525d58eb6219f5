// prepareConfig: a snapshot becomes the mesh index and compiled policies, off any data thread;
// a snapshot whose policies do not compile is rejected with the reason.
#include <gtest/gtest.h>

#include <thread>

#include "common/config/loader.h"
#include "tests/unit/ztunnel/harness.h"
#include "tests/unit/ztunnel/policies.h"

namespace ambit::ztunnel::testing {
namespace {

std::shared_ptr<const v1::MeshSnapshot> translated(const std::string& extra = "") {
  std::vector<config::SourceDocument> docs{{"mesh.yaml", test::meshYaml()}};
  if (!extra.empty()) docs.push_back({"extra.yaml", extra});
  config::LoadResult r = config::translate(docs);
  for (const auto& e : r.errors) ADD_FAILURE() << e.toString();
  return std::make_shared<const v1::MeshSnapshot>(std::move(r.snapshot));
}

TEST(ZtunnelConfig, PreparedOnAnotherThreadIndexesTheMeshAndCompilesPolicies) {
  auto snapshot = translated(kDenyClientYaml);
  std::optional<Result<ZtunnelConfig>> prepared;
  std::thread([&] { prepared.emplace(prepareConfig(snapshot)); }).join();
  ASSERT_TRUE(*prepared) << prepared->error().message;
  const ZtunnelConfig& c = **prepared;
  EXPECT_EQ(c.version, snapshot->version());
  ASSERT_NE(c.state, nullptr);
  EXPECT_EQ(&c.state->snapshot(), snapshot.get());
  EXPECT_NE(c.state->serviceByVip(boost::asio::ip::make_address("10.96.0.10")), nullptr);
  ASSERT_NE(c.policies, nullptr);

  rbac::Labels server_labels;
  server_labels["app"] = "my-app";
  rbac::Attributes attrs;
  attrs.source_principal = "spiffe://cluster.local/ns/default/sa/client";
  attrs.destination_port = 8080;
  rbac::Target target{.ns = "default", .labels = &server_labels};
  EXPECT_FALSE(c.policies->evaluate(target, attrs, rbac::Mode::kL4).allowed);
}

TEST(ZtunnelConfig, PoliciesThatDoNotCompileAreRejectedWithTheReason) {
  auto snapshot = std::make_shared<v1::MeshSnapshot>(*translated());
  v1::PeerAuthentication* pa = snapshot->add_peer_authentications();
  pa->set_name("bad");
  pa->set_namespace_("default");
  (*pa->mutable_port_level_mtls())[70000] = v1::PeerAuthentication::STRICT;
  auto prepared = prepareConfig(snapshot);
  ASSERT_FALSE(prepared);
  EXPECT_NE(prepared.error().message.find("policies rejected"), std::string::npos);
  EXPECT_NE(prepared.error().message.find("invalid port 70000"), std::string::npos)
      << prepared.error().message;
}

TEST(ZtunnelConfig, NoSnapshotIsAnError) { EXPECT_FALSE(prepareConfig(nullptr)); }

}  // namespace
}  // namespace ambit::ztunnel::testing
