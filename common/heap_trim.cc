#include "common/heap_trim.h"

#include <malloc.h>
#include <time.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/async/spawn.h"
#include "common/log.h"

namespace ambit {

double processCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

bool TrimLoadGate::allows(double share) {
  const bool quiet = share <= options_.quiet_cpu_share;
  const bool fallen = options_.fallen_cpu_ratio > 0 && share_before_ > 0 &&
                      share <= options_.fallen_cpu_ratio * share_before_ &&
                      share <= options_.fallen_max_share;
  share_before_ = share;
  return quiet || fallen;
}

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
        TrimLoadGate gate(options);
        const double period = std::chrono::duration<double>(options.period).count();
        double cpu_before = processCpuSeconds();
        for (;;) {
          timer.expires_after(options.period);
          co_await timer.async_wait(boost::asio::use_awaitable);
          const double cpu_now = processCpuSeconds();
          const bool allowed = gate.allows((cpu_now - cpu_before) / period);
          cpu_before = cpu_now;
          if (!allowed) continue;
          if (heapFreeBytes() == after_last_trim) continue;
          if (trimHeapIfWorthIt(options.min_free)) after_last_trim = heapFreeBytes();
          cpu_before = processCpuSeconds();  // the check's own cost does not count as load
        }
      },
      "heap trim");
}

}  // namespace ambit
