#pragma once
// Shared helpers for identity tests: a settable wall clock, a CA in a directory, workload
// certificates it issues.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/identity/ca.h"
#include "common/identity/certificate.h"
#include "common/identity/csr.h"
#include "common/identity/pem.h"

namespace ambit::identity::testing {

// Wall clock the test moves by hand.
struct FakeWallClock {
  std::shared_ptr<std::chrono::system_clock::time_point> now =
      std::make_shared<std::chrono::system_clock::time_point>(std::chrono::system_clock::now());
  WallClock fn() const {
    return [n = now] { return *n; };
  }
  void advance(std::chrono::system_clock::duration d) { *now += d; }
};

inline std::unique_ptr<EmbeddedCa> openCa(const std::filesystem::path& dir,
                                          WallClock clock = systemWallClock(),
                                          std::string td = "cluster.local") {
  EmbeddedCaOptions o;
  o.stateDir = dir;
  o.trustDomain = std::move(td);
  o.clock = std::move(clock);
  auto ca = EmbeddedCa::openOrCreate(std::move(o));
  EXPECT_TRUE(ca) << (ca ? "" : ca.error().message);
  return ca ? std::move(*ca) : nullptr;
}

inline IdentityAuthorizer allowAll() {
  return [](const SpiffeId&) { return Status::ok(); };
}

// A workload certificate for spiffe://<td>/ns/default/sa/<sa> signed by `ca`.
inline WorkloadCertificate issueWorkload(EmbeddedCa& ca, const std::string& td,
                                         const std::string& sa,
                                         std::chrono::seconds ttl = std::chrono::hours(1)) {
  auto id = SpiffeId::make(td, "default", sa);
  EXPECT_TRUE(id);
  auto req = createWorkloadCsr(*id);
  EXPECT_TRUE(req);
  auto issued = ca.sign(req->csrPem, ttl, allowAll());
  EXPECT_TRUE(issued) << (issued ? "" : issued.error().message);
  auto wc = WorkloadCertificate::assemble(std::move(req->key), std::move(*issued));
  EXPECT_TRUE(wc) << (wc ? "" : wc.error().message);
  return std::move(*wc);
}

// A P-256 CSR asking for `extensions`: (NID, value in openssl.cnf syntax) pairs, e.g.
// {NID_subject_alt_name, "URI:spiffe://..."}, {NID_basic_constraints, "critical,CA:TRUE"}.
inline std::string csrRequesting(const std::vector<std::pair<int, std::string>>& extensions) {
  auto key = generateP256Key();
  EXPECT_TRUE(key);
  if (!key) return "";
  ossl::X509ReqPtr req(X509_REQ_new());
  ossl::X509ExtensionStackPtr exts(sk_X509_EXTENSION_new_null());
  EXPECT_TRUE(req && exts && X509_REQ_set_version(req.get(), X509_REQ_VERSION_1) == 1 &&
              X509_REQ_set_pubkey(req.get(), key->get()) == 1);
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, nullptr, nullptr, req.get(), nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    ossl::X509ExtensionPtr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    EXPECT_TRUE(ext) << value;
    if (ext && sk_X509_EXTENSION_push(exts.get(), ext.get()) > 0) ext.release();
  }
  if (!extensions.empty()) {
    EXPECT_EQ(X509_REQ_add_extensions(req.get(), exts.get()), 1);
  }
  EXPECT_GT(X509_REQ_sign(req.get(), key->get(), EVP_sha256()), 0);
  auto pem = csrToPem(req.get());
  EXPECT_TRUE(pem);
  return pem ? *pem : "";
}

}  // namespace ambit::identity::testing
