// The smaller pieces of tests/support: temp dirs, files, requirements, polling, text, test
// data.
#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>

#include "tests/support/files.h"
#include "tests/support/requirements.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"
#include "tests/support/text.h"
#include "tests/support/wait.h"

namespace ambit::test {
namespace {

using namespace std::chrono_literals;

TEST(TempDir, IsFreshWritableAndRemovedWithEverythingInIt) {
  std::filesystem::path kept;
  {
    TempDir a("ambit-support-test"), b("ambit-support-test");
    EXPECT_NE(a.path(), b.path());
    EXPECT_TRUE(std::filesystem::is_directory(a.path()));
    EXPECT_EQ(a.path().filename().string().rfind("ambit-support-test-", 0), 0u);
    auto written = a.write("deep/er/file.yaml", "x: 1\n");
    EXPECT_EQ(written, a.path() / "deep/er/file.yaml");
    EXPECT_EQ(readFile(a.file("deep/er/file.yaml")), "x: 1\n");
    EXPECT_FALSE(std::filesystem::exists(a.path() / "deep/er/.file.yaml.tmp"));
    kept = a.path();
  }
  EXPECT_FALSE(std::filesystem::exists(kept));
}

TEST(Files, ReadOfAMissingFileIsEmptyAndWritesReplace) {
  TempDir dir;
  EXPECT_EQ(readFile(dir.file("missing")), "");
  writeFile(dir.file("f"), "long content");
  writeFile(dir.file("f"), "short");
  EXPECT_EQ(readFile(dir.file("f")), "short");
  writeFileAtomically(dir.file("g"), "atomic");
  EXPECT_EQ(readFile(dir.file("g")), "atomic");
  EXPECT_THROW(writeFile(dir.file("no/such/dir/f"), "x"), std::runtime_error);
}

TEST(Requirements, NameWhatIsMissingAndHowToGetIt) {
  EXPECT_EQ(missingProgram("sh", "dash"), std::nullopt);
  EXPECT_EQ(missingProgram("/bin/sh", "dash"), std::nullopt);
  auto missing = missingProgram("ambit-no-such-program", "ambit-pkg");
  ASSERT_TRUE(missing);
  EXPECT_NE(missing->find("ambit-no-such-program"), std::string::npos) << *missing;
  EXPECT_NE(missing->find("apt-get install ambit-pkg"), std::string::npos) << *missing;
  EXPECT_EQ(missingRoot("x").has_value(), !runningAsRoot());
  if (auto root = missingRoot("creates netns")) {
    EXPECT_NE(root->find("creates netns"), std::string::npos);
  }
  EXPECT_EQ(firstMissing({std::nullopt, std::string("b"), std::string("c")}), "b");
  EXPECT_EQ(firstMissing({std::nullopt}), std::nullopt);
  auto module = missingPythonModule("ambit_no_such_module", "python3-nothing");
  ASSERT_TRUE(module);
  EXPECT_NE(module->find("ambit_no_such_module"), std::string::npos) << *module;
}

TEST(Requirements, SkipIsAnnouncedWithTheReason) {
  EXPECT_EQ(announceSkip("needs a unicorn"), "SKIPPED LOUDLY: needs a unicorn");
}

TEST(Wait, EventuallyReturnsOnceTheConditionHoldsOrGivesUp) {
  int polls = 0;
  EXPECT_TRUE(eventually([&] { return ++polls == 3; }, 10s, 1ms));
  EXPECT_EQ(polls, 3);
  EXPECT_FALSE(eventually([] { return false; }, 20ms, 1ms));
}

TEST(Wait, ConfigVersionComesFromTheConfigDump) {
  EXPECT_EQ(configVersionOf(R"({"config_version": "abc", "pods": []})"), "abc");
  EXPECT_EQ(configVersionOf(R"({"config_version": 7})"), "");
  EXPECT_EQ(configVersionOf("not json"), "");
  int fetches = 0;
  EXPECT_TRUE(waitForConfigVersion(
      [&] { return ++fetches < 3 ? R"({"config_version":"old"})" : R"({"config_version":"new"})"; },
      "new", 10s));
  EXPECT_EQ(fetches, 3);
}

TEST(Text, OccurrencesCountsOverlappingMatches) {
  EXPECT_EQ(occurrences("config version 1\nconfig version 2\n", "config version"), 2u);
  EXPECT_EQ(occurrences("aaaa", "aa"), 3u);
  EXPECT_EQ(occurrences("abc", "x"), 0u);
  EXPECT_EQ(occurrences("abc", ""), 0u);
}

TEST(TestData, FixturesAreTheFilesUnderTestsData) {
  const std::string& seed = seedVirtualService();
  EXPECT_EQ(seed.rfind("apiVersion: networking.istio.io/v1alpha3\nkind: VirtualService\n", 0), 0u);
  EXPECT_NE(seed.find("weight: 80"), std::string::npos);
  EXPECT_NE(seed.find("weight: 20"), std::string::npos);
  EXPECT_EQ(&seed, &seedVirtualService()) << "read once";
  EXPECT_NE(canaryHttpRoute().find("kind: HTTPRoute"), std::string::npos);
  EXPECT_NE(meshYaml().find("name: my-app-v1b"), std::string::npos);
  try {
    testData("ambit-no-such-fixture.yaml");
    ADD_FAILURE() << "a missing fixture must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("tests/data/ambit-no-such-fixture.yaml"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace ambit::test
