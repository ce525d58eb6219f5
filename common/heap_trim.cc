#include "common/heap_trim.h"

#include <malloc.h>
#include <time.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/async/spawn.h"
#include "common/log.h"

namespace ambit {
namespace {

std::chrono::nanoseconds processCpuTime() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

size_t heapFreeBytes() { return mallinfo2().fordblks; }

bool trimHeapIfWorthIt(size_t min_free) {
  const size_t free_before = heapFreeBytes();
  if (free_before < min_free) return false;
  const auto started = std::chrono::steady_clock::now();
  malloc_trim(0);
  logDebug("heap trim: {} KiB free in the arenas, returned in {} us", free_before >> 10,
           std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 started)
               .count());
  return true;
}

void startHeapTrim(boost::asio::any_io_executor executor, HeapTrimOptions options) {
  spawn(
      executor,
      [executor, options]() -> boost::asio::awaitable<void> {
        boost::asio::steady_timer timer(executor);
        // The free bytes right after the last trim: the same figure again means nothing was
        // allocated or freed since, and the pages are already back.
        size_t after_last_trim = 0;
        auto cpu_before = processCpuTime();
        double share_before = 0;  // of one CPU, in the period before
        for (;;) {
          timer.expires_after(options.period);
          co_await timer.async_wait(boost::asio::use_awaitable);
          const auto cpu_now = processCpuTime();
          const double share = std::chrono::duration<double>(cpu_now - cpu_before).count() /
                               std::chrono::duration<double>(options.period).count();
          const bool quiet = share <= options.quiet_cpu_share;
          const bool fallen = share <= options.fallen_cpu_ratio * share_before;
          cpu_before = cpu_now;
          share_before = share;
          if (!quiet && !fallen) continue;
          if (heapFreeBytes() == after_last_trim) continue;
          if (trimHeapIfWorthIt(options.min_free)) after_last_trim = heapFreeBytes();
          cpu_before = processCpuTime();  // the check's own cost does not count against quiet
        }
      },
      "heap trim");
}

}  // namespace ambit
