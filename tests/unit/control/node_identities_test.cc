// The CA's Kubernetes-mode authorization (Istio's node-impersonation rule), one refusal per rule.

#include "control/node_identities.h"

#include <gtest/gtest.h>

#include "common/identity/signer.h"

namespace ambit::control {
namespace {

identity::SpiffeId id(const std::string& ns, const std::string& sa,
                      const std::string& td = "cluster.local") {
  auto parsed = identity::SpiffeId::make(td, ns, sa);
  EXPECT_TRUE(parsed);
  return *parsed;
}

Principal nodeAgent(const std::string& node) {
  return Principal{"ambit-system", "ambit-agent", "ambit-node-x1", "pod-uid-agent", node};
}

void expectRefused(const Status& s, const std::string& why) {
  ASSERT_FALSE(s) << "allowed; expected refusal: " << why;
  EXPECT_EQ(s.error().code, identity::kNotAllowed);
  EXPECT_NE(s.message().find(why), std::string::npos) << s.message();
}

class NodeIdentitiesTest : public ::testing::Test {
 protected:
  NodeIdentitiesTest() {
    pods_.upsertPod("u1", "node-a", "shop", "cart");
    pods_.upsertPod("u2", "node-b", "shop", "payments");
    pods_.upsertPod("u3", "", "shop", "pending");  // not scheduled yet
  }
  NodeIdentities pods_;
  CsrRules rules_;
};

TEST_F(NodeIdentitiesTest, NodeAgentGetsIdentitiesOfPodsOnItsNode) {
  EXPECT_TRUE(authorizeIdentity(nodeAgent("node-a"), id("shop", "cart"), pods_, rules_));
  expectRefused(authorizeIdentity(nodeAgent("node-a"), id("shop", "payments"), pods_, rules_),
                "no pod of service account shop/payments is scheduled on node node-a");
  expectRefused(authorizeIdentity(nodeAgent("node-a"), id("shop", "pending"), pods_, rules_),
                "shop/pending");
}

TEST_F(NodeIdentitiesTest, FollowsPodsAsTheyMoveAndLeave) {
  pods_.upsertPod("u2", "node-a", "shop", "payments");  // rescheduled (a new pod, same uid here)
  EXPECT_TRUE(authorizeIdentity(nodeAgent("node-a"), id("shop", "payments"), pods_, rules_));
  EXPECT_FALSE(authorizeIdentity(nodeAgent("node-b"), id("shop", "payments"), pods_, rules_));
  pods_.upsertPod("u4", "node-a", "shop", "cart");  // two pods of cart on node-a
  pods_.removePod("u1");
  EXPECT_TRUE(authorizeIdentity(nodeAgent("node-a"), id("shop", "cart"), pods_, rules_));
  pods_.removePod("u4");
  EXPECT_FALSE(authorizeIdentity(nodeAgent("node-a"), id("shop", "cart"), pods_, rules_));
  pods_.removePod("never-there");
  EXPECT_EQ(pods_.size(), 2u);
}

TEST_F(NodeIdentitiesTest, NodeAgentTokenWithoutNodeFallsBackToItsPodThenRefuses) {
  Principal p = nodeAgent("");
  p.pod_uid = "agent-pod";
  expectRefused(authorizeIdentity(p, id("shop", "cart"), pods_, rules_),
                "not bound to a scheduled pod");
  pods_.upsertPod("agent-pod", "node-a", "ambit-system", "ambit-agent");
  EXPECT_TRUE(authorizeIdentity(p, id("shop", "cart"), pods_, rules_));
}

TEST_F(NodeIdentitiesTest, OtherCallersGetOnlyTheirOwnIdentity) {
  Principal waypoint{"shop", "waypoint", "waypoint-7d9", "wp-uid", "node-a"};
  EXPECT_TRUE(authorizeIdentity(waypoint, id("shop", "waypoint"), pods_, rules_));
  expectRefused(authorizeIdentity(waypoint, id("shop", "cart"), pods_, rules_),
                "caller shop/waypoint may only obtain its own identity, not shop/cart");
  // The node agent's service account in another namespace is not the node agent.
  Principal impostor{"shop", "ambit-agent", "", "", "node-a"};
  expectRefused(authorizeIdentity(impostor, id("shop", "cart"), pods_, rules_),
                "may only obtain its own identity");
}

TEST_F(NodeIdentitiesTest, ForeignTrustDomainIsRefused) {
  expectRefused(
      authorizeIdentity(nodeAgent("node-a"), id("shop", "cart", "evil.example"), pods_, rules_),
      "trust domain 'evil.example' is not this mesh's");
}

}  // namespace
}  // namespace ambit::control
