// Reading TokenReview answers as kube-apiserver writes them.

#include "control/token_review.h"

#include <gtest/gtest.h>

#include "common/identity/signer.h"

namespace ambit::control {
namespace {

nlohmann::json answer(const std::string& status_json) {
  return nlohmann::json::parse(R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",
    "spec":{"token":"x"},"status":)" +
                               status_json + "}");
}

TEST(TokenReviewTest, PodBoundTokenNamesServiceAccountPodAndNode) {
  auto p = parseTokenReview(answer(R"({"authenticated":true,"audiences":["ambit"],
    "user":{"username":"system:serviceaccount:ambit-system:ambit-agent","uid":"u",
      "groups":["system:serviceaccounts"],
      "extra":{"authentication.kubernetes.io/node-name":["node-a"],
               "authentication.kubernetes.io/node-uid":["n-uid"],
               "authentication.kubernetes.io/pod-name":["ambit-node-x1"],
               "authentication.kubernetes.io/pod-uid":["p-uid"]}}})"),
                            "ambit");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->ns, "ambit-system");
  EXPECT_EQ(p->service_account, "ambit-agent");
  EXPECT_EQ(p->pod_name, "ambit-node-x1");
  EXPECT_EQ(p->pod_uid, "p-uid");
  EXPECT_EQ(p->node, "node-a");
  EXPECT_EQ(p->identity(), "ambit-system/ambit-agent");
}

TEST(TokenReviewTest, UnboundTokenHasNoPodOrNode) {
  auto p = parseTokenReview(answer(R"({"authenticated":true,"audiences":["ambit"],
    "user":{"username":"system:serviceaccount:shop:waypoint"}})"),
                            "ambit");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->identity(), "shop/waypoint");
  EXPECT_TRUE(p->node.empty());
  EXPECT_TRUE(p->pod_uid.empty());
}

void expectRefused(const std::string& status_json, const std::string& why) {
  auto p = parseTokenReview(answer(status_json), "ambit");
  ASSERT_FALSE(p) << "accepted; expected: " << why;
  EXPECT_EQ(p.error().code, identity::kUnauthenticated);
  EXPECT_NE(p.error().message.find(why), std::string::npos) << p.error().message;
}

TEST(TokenReviewTest, RefusalsCarryTheApiServersReason) {
  expectRefused(R"({"authenticated":false,"error":"[invalid bearer token, token has expired]"})",
                "token has expired");
  expectRefused(R"({"authenticated":false})", "did not authenticate");
  expectRefused(R"({"authenticated":true,"audiences":["kubernetes"],
    "user":{"username":"system:serviceaccount:a:b"}})",
                "not issued for audience 'ambit'");
  expectRefused(R"({"authenticated":true,"audiences":["ambit"],"user":{"username":"alice"}})",
                "user 'alice' is not a service account");
  expectRefused(R"({"authenticated":true,"audiences":["ambit"],
    "user":{"username":"system:serviceaccount:onlyns"}})",
                "malformed service account user");
  expectRefused(R"({"authenticated":true,"audiences":["ambit"]})", "no user");
}

TEST(TokenReviewTest, AnswerWithoutStatusIsAnErrorNotARefusal) {
  auto p = parseTokenReview(nlohmann::json::parse(R"({"kind":"TokenReview"})"), "ambit");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().code, identity::kUnauthenticated);
}

}  // namespace
}  // namespace ambit::control
