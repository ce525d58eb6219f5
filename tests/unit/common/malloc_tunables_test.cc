// Malloc tunables: the GLIBC_TUNABLES value is built without disturbing an operator's own
// settings, and a process re-executed by ensureMallocTcacheCount() really runs with the larger
// per-thread cache (glibc keeps a burst of frees of one size in it instead of its fastbins).

#include "common/malloc_tunables.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/sanitizer.h"

namespace ambit {
namespace {

using test::kSanitizerAllocator;

constexpr const char* kReportEnv = "AMBIT_MALLOC_TUNABLES_REPORT";
constexpr const char* kTcache = "glibc.malloc.tcache_count";

// In the process the tests below start (this binary again, with kReportEnv naming a file): frees
// 20 blocks of one small size, writes how many bytes of them glibc put in its fastbins (the
// tcache did not take them) and exits before main(), so gtest never runs there.
[[maybe_unused]] const bool kReportMode = [] {
  const char* out = std::getenv(kReportEnv);
  if (!out) return false;
  std::vector<void*> blocks;
  blocks.reserve(20);
  for (int i = 0; i < 20; ++i) {
    void* p = std::malloc(100);
    static_cast<volatile char*>(p)[0] = 1;
    blocks.push_back(p);
  }
  const size_t before = mallinfo2().fsmblks;
  for (void* p : blocks) {
    asm volatile("" : : "r"(p) : "memory");
    std::free(p);
  }
  const size_t after = mallinfo2().fsmblks;
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  std::ofstream(out) << "tunables=" << (tunables ? tunables : "")
                     << " fastbin_bytes=" << after - before << "\n";
  _exit(0);
}();

TEST(WithTunable, AddsTheTunableToWhatIsThere) {
  EXPECT_EQ(withTunable(nullptr, kTcache, "32"), "glibc.malloc.tcache_count=32");
  EXPECT_EQ(withTunable("", kTcache, "32"), "glibc.malloc.tcache_count=32");
  EXPECT_EQ(withTunable("glibc.malloc.arena_max=2", kTcache, "32"),
            "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=32");
  // A name that only starts like it is another tunable.
  EXPECT_EQ(withTunable("glibc.malloc.tcache_count_max=1", kTcache, "32"),
            "glibc.malloc.tcache_count_max=1:glibc.malloc.tcache_count=32");
}

TEST(WithTunable, LeavesAnOperatorsOwnSettingAlone) {
  EXPECT_EQ(withTunable("glibc.malloc.tcache_count=7", kTcache, "32"), std::nullopt);
  EXPECT_EQ(withTunable("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0", kTcache, "32"),
            std::nullopt);
  EXPECT_EQ(withTunable("glibc.malloc.tcache_count=4:glibc.malloc.arena_max=2", kTcache, "32"),
            std::nullopt);
  EXPECT_EQ(withTunable("glibc.malloc.tcache_count", kTcache, "32"), std::nullopt);
}

std::string selfPath() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0) return {};
  return std::string(path, static_cast<size_t>(n));
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs `child` in a forked process with GLIBC_TUNABLES set to `tunables` (unset when null) and
// the report file named; returns its exit status and what the re-executed binary reported.
template <typename Child>
std::pair<int, std::string> runChild(const char* tunables, Child child) {
  char dir[] = "/tmp/ambit-malloc-tunables-XXXXXX";
  if (!mkdtemp(dir)) return {-2, ""};
  const std::string report = std::string(dir) + "/report";
  const pid_t pid = fork();
  if (pid == 0) {
    if (tunables) {
      setenv("GLIBC_TUNABLES", tunables, 1);
    } else {
      unsetenv("GLIBC_TUNABLES");
    }
    setenv(kReportEnv, report.c_str(), 1);
    child();
    _exit(42);  // the child returned instead of executing the report
  }
  int status = 0;
  if (pid < 0 || waitpid(pid, &status, 0) != pid) status = -1;
  std::string text = readFile(report);
  unlink(report.c_str());
  rmdir(dir);
  if (pid < 0) return {-3, ""};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
}

// This binary, to be started again (it reports from kReportMode and exits).
std::vector<char*> selfArgv(std::string& self) { return {self.data(), nullptr}; }

TEST(MallocTunables, ReExecutesWithALargerCacheThatGlibcUses) {
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
  std::string self = selfPath();
  ASSERT_FALSE(self.empty());
  auto [status, report] = runChild(nullptr, [&] {
    std::vector<char*> argv = selfArgv(self);
    ensureMallocTcacheCount(argv.data(), 32);
  });
  ASSERT_EQ(status, 0) << "the re-executed test binary failed (42: it was not re-executed)";
  EXPECT_EQ(report, "tunables=glibc.malloc.tcache_count=32 fastbin_bytes=0\n");
}

TEST(MallocTunables, TheReportSeesGlibcsDefaultCacheOverflow) {
  // The control for the test above: the same report, run with the default cache size, finds
  // the frees past 7 in the fastbins, so a report of 0 there means the tunable took effect.
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
  std::string self = selfPath();
  ASSERT_FALSE(self.empty());
  auto [status, report] = runChild("glibc.malloc.tcache_count=7", [&] {
    std::vector<char*> argv = selfArgv(self);
    execv(self.c_str(), argv.data());
  });
  ASSERT_EQ(status, 0);
  EXPECT_NE(report.find("tunables=glibc.malloc.tcache_count=7 fastbin_bytes="), std::string::npos)
      << report;
  EXPECT_EQ(report.find("fastbin_bytes=0\n"), std::string::npos) << report;
}

// The second start never starts a third, even when the variable got lost on the way (a wrapper
// that cleans the environment): it only removes its marker.
TEST(MallocTunables, TheSecondStartDoesNotReExecuteAgain) {
  std::string self = selfPath();
  ASSERT_FALSE(self.empty());
  auto [status, report] = runChild(nullptr, [&] {
    setenv("AMBIT_MALLOC_TUNABLES_APPLIED", "1", 1);
    std::vector<char*> argv = selfArgv(self);
    ensureMallocTcacheCount(argv.data(), 32);
    _exit(std::getenv("AMBIT_MALLOC_TUNABLES_APPLIED") || std::getenv("GLIBC_TUNABLES") ? 43 : 0);
  });
  EXPECT_EQ(status, 0) << "0: returned, marker removed; 43: marker or variable left behind";
  EXPECT_EQ(report, "") << "executed itself a third time";
}

TEST(MallocTunables, KeepsAnOperatorsSettingWithoutReExecuting) {
  std::string self = selfPath();
  ASSERT_FALSE(self.empty());
  auto [status, report] = runChild("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=7", [&] {
    std::vector<char*> argv = selfArgv(self);
    ensureMallocTcacheCount(argv.data(), 32);
    const char* now = std::getenv("GLIBC_TUNABLES");
    _exit(now && std::string(now) == "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=7" ? 0
                                                                                            : 43);
  });
  EXPECT_EQ(status, 0) << "0: returned with the variable untouched; 43: changed it";
  EXPECT_EQ(report, "") << "re-executed although the operator set the tunable";
}

}  // namespace
}  // namespace ambit
