#pragma once
// Shared helpers for identity tests: temp dirs, a settable wall clock, a CA in a temp dir.

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/identity/ca.h"

namespace ambit::identity::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "ambit-identity-XXXXXX").string();
    char* p = ::mkdtemp(tmpl.data());
    EXPECT_NE(p, nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

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

inline void writeText(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

inline std::string readText(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline IdentityAuthorizer allowAll() {
  return [](const SpiffeId&) { return Status::ok(); };
}

}  // namespace ambit::identity::testing
