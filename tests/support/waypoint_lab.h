#pragma once
// A test suite sharing one lab brought up with a waypoint (`ambitctl lab up --waypoint`): the
// suite's SetUpTestSuite calls upLab() with the lab's own name; the lab goes down after the
// last test; every test starts only once the waypoint pod reports ready, and skips loudly
// without root.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/support/lab.h"

namespace ambit::test {

class WaypointLabTest : public ::testing::Test {
 public:
  // Downs a lab left over by an earlier run, then brings `name` up with --waypoint and
  // `extra_args` (e.g. "--waypoint-arg=..."). Does nothing without root (SetUp skips then).
  static void upLab(const std::string& name, const std::vector<std::string>& extra_args = {});
  static void TearDownTestSuite();

 protected:
  void SetUp() override;

  static std::string waypointLog() { return lab_->podLog("waypoint"); }

  // Writes `yaml` as `file` into the lab's config dir (empty yaml: removes the file, if there)
  // and waits until the waypoint logs a new "config version" line that contains `want`
  // (e.g. "1 route tables, 0 authorization policies"); fails the test otherwise.
  static void applyWaypointConfig(const std::string& file, const std::string& yaml,
                                  const std::string& want);

  static inline std::unique_ptr<Lab> lab_;
};

}  // namespace ambit::test
