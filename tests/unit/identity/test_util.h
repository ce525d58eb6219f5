#pragma once
// Shared helpers for identity tests: a settable wall clock, a CA in a directory, workload
// certificates it issues.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/identity/ca.h"
#include "common/identity/certificate.h"
#include "common/identity/csr.h"

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

}  // namespace ambit::identity::testing
