#pragma once
// A test suite sharing one lab brought up with a waypoint (`ambitctl lab up --waypoint`): the
// suite's SetUpTestSuite calls upLab() with the lab's own name; the lab goes down after the
// last test; every test starts only once the waypoint pod reports ready.

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/e2e/support/e2e_support.h"

namespace ambit::e2e {

class WaypointLabTest : public ::testing::Test {
 public:
  // Downs a lab left over by an earlier run, then brings `name` up with --waypoint and
  // `extra_args` (e.g. "--waypoint-arg=..."). Does nothing without root (SetUp skips then).
  static void upLab(const std::string& name, const std::vector<std::string>& extra_args = {}) {
    if (::geteuid() != 0) return;
    lab_ = std::make_unique<Lab>(name);
    lab_->down();
    std::vector<std::string> args{"--waypoint"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    lab_->up(args);
  }
  static void TearDownTestSuite() {
    if (lab_ != nullptr) lab_->down();
    lab_.reset();
  }

 protected:
  void SetUp() override {
    AMBIT_REQUIRE_ROOT();
    ASSERT_NE(lab_, nullptr);
    ASSERT_TRUE(lab_->waitWaypointReady()) << "waypoint never became ready:\n" << waypointLog();
  }

  static std::string waypointLog() { return lab_->podLog("waypoint"); }

  static inline std::unique_ptr<Lab> lab_;
};

}  // namespace ambit::e2e
