#include "tests/support/waypoint_lab.h"

#include <filesystem>

#include "tests/support/requirements.h"
#include "tests/support/text.h"
#include "tests/support/wait.h"

namespace ambit::test {

void WaypointLabTest::upLab(const std::string& name, const std::vector<std::string>& extra_args) {
  if (!runningAsRoot()) return;
  lab_ = std::make_unique<Lab>(name);
  lab_->down();
  std::vector<std::string> args{"--waypoint"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  lab_->up(args);
}

void WaypointLabTest::TearDownTestSuite() {
  if (lab_ != nullptr) lab_->down();
  lab_.reset();
}

void WaypointLabTest::SetUp() {
  AMBIT_REQUIRE(missingRoot("end-to-end tests run a lab: network namespaces, cgroups, BPF"));
  ASSERT_NE(lab_, nullptr);
  ASSERT_TRUE(lab_->waitWaypointReady()) << "waypoint never became ready:\n" << waypointLog();
}

void WaypointLabTest::applyWaypointConfig(const std::string& file, const std::string& yaml,
                                          const std::string& want) {
  const bool present = std::filesystem::exists(lab_->configDir() + "/" + file);
  if (yaml.empty() && !present) return;
  const size_t before = occurrences(waypointLog(), "config version");
  if (yaml.empty()) {
    lab_->removeConfig(file);
  } else {
    lab_->writeConfig(file, yaml);
  }
  bool applied = eventually([&] {
    std::string log = waypointLog();
    if (occurrences(log, "config version") <= before) return false;
    size_t last = log.rfind("config version");
    return log.substr(last, log.find('\n', last) - last).find(want) != std::string::npos;
  });
  ASSERT_TRUE(applied) << "waypoint did not load the config (" << want << "):\n" << waypointLog();
}

}  // namespace ambit::test
