// The openssl CLI's view of what the embedded CA issues: `openssl verify` accepts the chain
// for TLS server and client use and refuses another root; `openssl x509 -text` shows the
// SPIFFE profile. A third-party peer, hence the interop label.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include "tests/support/files.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/identity/test_util.h"

namespace ambit::identity {
namespace {

using test::TempDir;

// `cmd` through /bin/sh; stdout and stderr together.
test::CommandOutput run(const std::string& cmd) {
  return test::sh(cmd, std::chrono::seconds(60), true);
}

TEST(VerifyTest, OpensslCliVerifiesChainAndShowsProfile) {
  AMBIT_REQUIRE(test::missingProgram("openssl", "openssl"));
  TempDir dir;
  auto ca = testing::openCa(dir.path() / "ca");
  ASSERT_TRUE(ca);
  WorkloadCertificate wc = testing::issueWorkload(*ca, "cluster.local", "my-app");
  auto leafPath = dir.path() / "leaf.pem";
  auto rootPath = dir.path() / "root.pem";
  test::writeFile(leafPath, wc.pem.chainPem.at(0));
  test::writeFile(rootPath, wc.pem.rootsPem.at(0));

  for (const char* purpose : {"sslserver", "sslclient"}) {
    auto v = run(fmt::format("openssl verify -purpose {} -CAfile {} {}", purpose, rootPath.string(),
                             leafPath.string()));
    EXPECT_EQ(v.exit_code, 0) << v.out;
    EXPECT_NE(v.out.find(": OK"), std::string::npos) << v.out;
  }
  auto text = run(fmt::format("openssl x509 -noout -text -in {}", leafPath.string()));
  ASSERT_EQ(text.exit_code, 0) << text.out;
  for (const char* want :
       {"URI:spiffe://cluster.local/ns/default/sa/my-app",
        "TLS Web Server Authentication, TLS Web Client Authentication", "CA:FALSE",
        "Digital Signature, Key Encipherment", "X509v3 Subject Alternative Name: critical",
        "prime256v1", "X509v3 Authority Key Identifier", "X509v3 Subject Key Identifier"}) {
    EXPECT_NE(text.out.find(want), std::string::npos) << "missing '" << want << "' in\n"
                                                      << text.out;
  }
  auto rootText = run(fmt::format("openssl x509 -noout -text -in {}", rootPath.string()));
  EXPECT_NE(rootText.out.find("CA:TRUE"), std::string::npos) << rootText.out;
  EXPECT_NE(rootText.out.find("Certificate Sign"), std::string::npos) << rootText.out;

  auto otherCa = testing::openCa(dir.path() / "other");
  ASSERT_TRUE(otherCa);
  auto otherRoot = dir.path() / "other-root.pem";
  test::writeFile(otherRoot, otherCa->rootPem());
  auto bad =
      run(fmt::format("openssl verify -CAfile {} {}", otherRoot.string(), leafPath.string()));
  EXPECT_NE(bad.exit_code, 0) << bad.out;
}

}  // namespace
}  // namespace ambit::identity
