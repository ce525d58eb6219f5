// HeapTrim: freed heap memory goes back to the kernel (RssAnon drops), on demand and from the
// periodic loop; a heap with little free memory is left alone.

#include "common/heap_trim.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/support/sanitizer.h"

namespace ambit {
namespace {

using test::kSanitizerAllocator;

long rssAnonKb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
  }
  return -1;
}

// 32 MiB in 32 KiB blocks (below glibc's mmap threshold: they come from the heap), every byte
// touched, then all freed but the last, which pins the heap's top: glibc keeps the rest.
struct Burst {
  Burst() {
    for (int i = 0; i < 1024; ++i) {
      void* p = std::malloc(kBlock);
      std::memset(p, 0x5a, kBlock);
      blocks.push_back(p);
    }
    for (size_t i = 0; i + 1 < blocks.size(); ++i) std::free(blocks[i]);
  }
  ~Burst() { std::free(blocks.back()); }
  static constexpr size_t kBlock = 32u << 10;
  std::vector<void*> blocks;
};

TEST(HeapTrim, ReturnsWhatABurstLeftFree) {
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
  Burst burst;
  ASSERT_GE(heapFreeBytes(), 24u << 20);
  const long before = rssAnonKb();
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(trimHeapIfWorthIt(1u << 20));
  const auto took = std::chrono::steady_clock::now() - started;
  const long after = rssAnonKb();
  EXPECT_LT(after, before - 16 * 1024) << "RssAnon " << before << " -> " << after << " kB";
  // Reported, not asserted: how long the arena lock is held for 32 MiB of free blocks.
  RecordProperty(
      "trim_us",
      std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(took).count()));
}

TEST(HeapTrim, LeavesAHeapWithLittleFreeAlone) { EXPECT_FALSE(trimHeapIfWorthIt(size_t{1} << 40)); }

TEST(HeapTrim, PeriodicCheckWaitsForAQuietPeriod) {
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
  boost::asio::io_context io;
  // Never quiet enough: the test process always uses more than 0 % of a CPU.
  startHeapTrim(
      io.get_executor(),
      {.period = std::chrono::milliseconds(20), .quiet_cpu_share = 0.0, .fallen_cpu_ratio = 0.0});
  Burst burst;
  const long before = rssAnonKb();
  io.run_for(std::chrono::milliseconds(200));
  const long after = rssAnonKb();
  EXPECT_GT(after, before - 1024) << "trimmed while busy: RssAnon " << before << " -> " << after;
}

TEST(HeapTrim, PeriodicCheckTrimsWhenTheLoadFalls) {
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
  boost::asio::io_context io;
  // Never quiet: only the fall from a busy period to an idle one may trim.
  startHeapTrim(io.get_executor(),
                {.period = std::chrono::milliseconds(50), .quiet_cpu_share = 0.0});
  // The first period is busy (a spin of 45 of its 50 ms), the ones after it idle.
  boost::asio::post(io, [] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(45);
    while (std::chrono::steady_clock::now() < until) {
    }
  });
  Burst burst;
  const long before = rssAnonKb();
  io.run_for(std::chrono::milliseconds(400));
  const long after = rssAnonKb();
  EXPECT_LT(after, before - 16 * 1024) << "RssAnon " << before << " -> " << after << " kB";
}

TEST(HeapTrim, PeriodicCheckTrimsAfterABurst) {
  if (kSanitizerAllocator) GTEST_SKIP() << "the sanitizer's allocator replaces glibc's malloc";
  boost::asio::io_context io;
  startHeapTrim(io.get_executor(), {.period = std::chrono::milliseconds(20)});
  Burst burst;
  const long before = rssAnonKb();
  io.run_for(std::chrono::milliseconds(300));
  const long after = rssAnonKb();
  EXPECT_LT(after, before - 16 * 1024) << "RssAnon " << before << " -> " << after << " kB";
}

}  // namespace
}  // namespace ambit
