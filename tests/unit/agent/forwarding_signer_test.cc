// The node agent's ForwardingSigner applies the CA's CSR rules (svid_rules.h) before it asks
// its authorizer or forwards anything to ambit-control: a CSR asking for a certificate that
// would break an X509-SVID rule is refused locally, naming the rule.
#include "agent/forwarding_signer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/unit/identity/test_util.h"

namespace ambit::agent {
namespace {

using identity::testing::csrRequesting;

constexpr char kUri[] = "URI:spiffe://cluster.local/ns/default/sa/my-app";

// The signer's answer for `csr`; no control-plane client, so anything that gets past the local
// checks is refused by the authorizer instead (and says so).
std::string answer(const std::string& csr) {
  ForwardingSigner signer(nullptr);
  auto issued = signer.sign(csr, std::chrono::hours(1), [](const identity::SpiffeId&) {
    return makeError("authorizer reached");
  });
  return issued ? "signed" : issued.error().message;
}

TEST(ForwardingSignerTest, RefusesCsrsBreakingAnSvidRuleBeforeTheAuthorizer) {
  EXPECT_THAT(answer(csrRequesting({{NID_subject_alt_name, kUri}})),
              ::testing::HasSubstr("authorizer reached"));
  EXPECT_THAT(
      answer(csrRequesting(
          {{NID_subject_alt_name, std::string(kUri) + ",URI:spiffe://cluster.local/ns/a/sa/b"}})),
      ::testing::HasSubstr("SPIFFE rule one-uri-san"));
  EXPECT_THAT(
      answer(csrRequesting({{NID_subject_alt_name, kUri}, {NID_basic_constraints, "CA:TRUE"}})),
      ::testing::HasSubstr("SPIFFE rule leaf-not-ca"));
  EXPECT_THAT(answer(csrRequesting({{NID_subject_alt_name, "URI:spiffe://cluster.local"}})),
              ::testing::HasSubstr("SPIFFE rule leaf-path"));
  EXPECT_THAT(answer(csrRequesting({{NID_subject_alt_name, "URI:http://cluster.local/ns/a/sa/b"}})),
              ::testing::HasSubstr("SPIFFE rule id-scheme"));
}

}  // namespace
}  // namespace ambit::agent
