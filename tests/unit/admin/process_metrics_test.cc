#include "common/admin/process_metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <prometheus/counter.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <fstream>

#include "common/admin/health_metrics.h"
#include "common/admin/metrics.h"
#include "tests/support/observability.h"
#include "tests/support/prometheus.h"
#include "tests/support/requirements.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_data.h"

namespace ambit::admin {
namespace {

using ::testing::HasSubstr;

constexpr ProcUnits kUnits{100, 4096};

TEST(ProcPidStat, ReadsTheFieldsAfterTheName) {
  auto s = parseProcPidStat(test::testData("proc/self-stat"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->utime_ticks, 250u);
  EXPECT_EQ(s->stime_ticks, 150u);
  EXPECT_EQ(s->start_ticks, 123400u);
  EXPECT_EQ(s->vsize_bytes, 734003200u);
  EXPECT_EQ(s->rss_pages, 5120u);
}

TEST(ProcPidStat, ANameWithSpacesAndParenthesesDoesNotShiftTheFields) {
  auto s = parseProcPidStat(test::testData("proc/self-stat-hostile-name"));
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->utime_ticks, 7u);
  EXPECT_EQ(s->stime_ticks, 3u);
  EXPECT_EQ(s->start_ticks, 500u);
  EXPECT_EQ(s->rss_pages, 256u);
}

TEST(ProcPidStat, MalformedInputIsAnErrorNamingTheField) {
  EXPECT_THAT(parseProcPidStat("").error().message, HasSubstr("no ')'"));
  EXPECT_THAT(parseProcPidStat("1 (x) S 1 2 3").error().message, HasSubstr("fields"));
  std::string bad = test::testData("proc/self-stat");
  bad.replace(bad.find(" 250 "), 5, " 2x0 ");
  EXPECT_THAT(parseProcPidStat(bad).error().message, HasSubstr("field 14 (utime)"));
  std::string negative = test::testData("proc/self-stat");
  negative.replace(negative.find(" 5120 "), 6, " -512 ");
  EXPECT_THAT(parseProcPidStat(negative).error().message, HasSubstr("field 24 (rss)"));
}

TEST(BootTime, FromTheBtimeLine) {
  auto b = parseBootTime(test::testData("proc/stat"));
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_EQ(*b, 1764800000u);
  EXPECT_THAT(parseBootTime("cpu 1 2 3\nctxt 5\n").error().message, HasSubstr("no btime"));
  EXPECT_THAT(parseBootTime("btime soon\n").error().message, HasSubstr("'soon'"));
  EXPECT_FALSE(parseBootTime("btime \n"));
}

TEST(MaxOpenFiles, SoftLimitOrInfinity) {
  auto m = parseMaxOpenFiles(test::testData("proc/limits"));
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(*m, 65536);
  auto unlimited = parseMaxOpenFiles("Max open files            unlimited   unlimited   files\n");
  ASSERT_TRUE(unlimited);
  EXPECT_TRUE(std::isinf(*unlimited));
  EXPECT_THAT(parseMaxOpenFiles("Max processes 10 10 processes\n").error().message,
              HasSubstr("no 'Max open files'"));
  EXPECT_THAT(parseMaxOpenFiles("Max open files\n").error().message, HasSubstr("no soft limit"));
  EXPECT_THAT(parseMaxOpenFiles("Max open files   many   1 files\n").error().message,
              HasSubstr("'many'"));
}

// A procfs root made of the fixtures, with `fds` entries in self/fd.
class FakeProc {
 public:
  explicit FakeProc(int fds) {
    dir_.write("self/stat", test::testData("proc/self-stat"));
    dir_.write("self/limits", test::testData("proc/limits"));
    dir_.write("stat", test::testData("proc/stat"));
    std::filesystem::create_directories(dir_.path() / "self" / "fd");
    for (int i = 0; i < fds; ++i) dir_.write("self/fd/" + std::to_string(i), "");
  }
  const std::filesystem::path& root() const { return dir_.path(); }
  void write(std::string_view file, const std::string& content) { dir_.write(file, content); }

 private:
  test::TempDir dir_{"ambit-proc"};
};

TEST(ProcessSample, CombinesTheFilesInTheirUnits) {
  FakeProc proc(7);
  auto s = readProcessSample(proc.root(), kUnits);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 4.0);  // (250 + 150) / 100
  EXPECT_DOUBLE_EQ(s->resident_memory_bytes, 5120.0 * 4096);
  EXPECT_DOUBLE_EQ(s->virtual_memory_bytes, 734003200.0);
  EXPECT_DOUBLE_EQ(s->open_fds, 7);
  EXPECT_DOUBLE_EQ(s->max_fds, 65536);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1764800000.0 + 1234.0);  // btime + 123400 / 100
}

TEST(ProcessSample, AMissingOrBrokenFileIsAnErrorNamingIt) {
  FakeProc proc(1);
  proc.write("self/limits", "garbage\n");
  auto s = readProcessSample(proc.root(), kUnits);
  ASSERT_FALSE(s);
  EXPECT_THAT(s.error().message, HasSubstr("Max open files"));
  auto missing = readProcessSample(proc.root() / "nowhere", kUnits);
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("nowhere/self/stat"));
  EXPECT_FALSE(readProcessSample(proc.root(), ProcUnits{0, 4096}));
}

TEST(ProcessCollector, ExposesTheStandardFamiliesAndIstioBuild) {
  FakeProc proc(3);
  ProcessCollector collector("ztunnel", proc.root(), kUnits);
  std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  EXPECT_EQ(test::metricValue(text, "process_cpu_seconds_total"), 4.0) << text;
  EXPECT_EQ(test::metricValue(text, "process_open_fds"), 3.0);
  EXPECT_EQ(test::metricValue(text, "process_max_fds"), 65536.0);
  EXPECT_EQ(test::metricValue(text, "process_resident_memory_bytes"), 5120.0 * 4096);
  EXPECT_EQ(test::metricValue(text, "process_virtual_memory_bytes"), 734003200.0);
  EXPECT_EQ(test::metricValue(text, "process_start_time_seconds"), 1764801234.0);
  EXPECT_EQ(
      test::metricValue(text, "istio_build", {{"component", "ztunnel"}, {"tag", ambitVersion()}}),
      1.0);
  EXPECT_THAT(text, HasSubstr("# TYPE process_cpu_seconds_total counter"));
}

TEST(ProcessCollector, BrokenProcfsStillLeavesTheBuildInfo) {
  FakeProc proc(0);
  proc.write("self/stat", "4242 ambit\n");
  ProcessCollector collector("agent", proc.root(), kUnits);
  std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  EXPECT_EQ(text.find("process_"), std::string::npos) << text;
  EXPECT_EQ(
      test::metricValue(text, "istio_build", {{"component", "agent"}, {"tag", ambitVersion()}}),
      1.0);
}

TEST(ProcessCollector, TheRealProcfsOfThisProcess) {
  ProcessCollector collector("test");
  std::string text = prometheus::TextSerializer().Serialize(collector.Collect());
  auto fds = test::metricValue(text, "process_open_fds");
  ASSERT_TRUE(fds) << text;
  EXPECT_GE(*fds, 3);  // at least stdin, stdout, stderr
  EXPECT_GT(test::metricValue(text, "process_resident_memory_bytes").value_or(0), 0) << text;
  double start = test::metricValue(text, "process_start_time_seconds").value_or(0);
  double now = static_cast<double>(std::time(nullptr));
  EXPECT_GT(start, now - 24 * 3600.0) << text;  // a test process started less than a day ago
  EXPECT_LE(start, now + 1) << text;
}

TEST(ExposeProcessMetrics, EveryRenderedRegistryCarriesThemAndPromtoolAcceptsIt) {
  prometheus::Registry registry;
  prometheus::BuildCounter().Name("ambit_test_total").Help("test").Register(registry).Add({});
  // The health families too, some without a series yet (no certificate, no failure).
  HealthMetrics health(registry);
  health.configApplied("abc");
  health.xdsState(false, {{"ConnectionError", 1}});
  EXPECT_EQ(renderMetrics(registry).find("istio_build"), std::string::npos);
  exposeProcessMetrics("waypoint");
  std::string text = renderMetrics(registry);
  EXPECT_THAT(text, HasSubstr("ambit_test_total 0"));
  EXPECT_THAT(text, HasSubstr("istio_build{component=\"waypoint\""));
  EXPECT_THAT(text, HasSubstr("process_cpu_seconds_total "));
  EXPECT_THAT(text, HasSubstr("ambit_config_info{version=\"abc\"} 1"));

  test::TempDir dir("ambit-promtool");
  std::ofstream(dir.file("metrics.txt")) << text;
  AMBIT_REQUIRE(test::missingProgram("/usr/bin/promtool", "prometheus"));
  auto lint = test::sh("/usr/bin/promtool check metrics < " + dir.file("metrics.txt"));
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err << text;
}

// The e2e tests' promtool verdict (tests/support/observability.h) tells lint from breakage.
TEST(PromtoolProblems, LintCanBeAcceptedByNameBrokenTextCannot) {
  AMBIT_REQUIRE(test::missingProgram("/usr/bin/promtool", "prometheus"));
  const std::string lint =
      "# HELP x_milliseconds a duration\n# TYPE x_milliseconds gauge\nx_milliseconds 1\n";
  EXPECT_THAT(test::promtoolProblems(lint), HasSubstr("x_milliseconds use base unit"));
  EXPECT_EQ(test::promtoolProblems(lint, {"x_milliseconds use base unit"}), "");
  EXPECT_NE(test::promtoolProblems("x{ 1\n", {"x"}), "");
}

}  // namespace
}  // namespace ambit::admin
