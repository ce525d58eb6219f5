#pragma once
// Heap decay for glibc malloc: freed memory is returned to the kernel some seconds after it
// stopped being used, instead of never.
//
// glibc keeps what a process frees for reuse, and only the free space at the very top of the
// heap goes back by itself. After a burst (a bulk transfer's 64 KiB buffers, a config reload)
// a daemon's resident memory stays at the burst's level for good: +1.7 MB in each ztunnel after
// one iperf3 run (BENCHMARKS.md, session 12). jemalloc and tcmalloc return such memory after a
// decay time; HeapTrim does the same for glibc: every `period` it looks at how much sits free in
// malloc's arenas (mallinfo2) and, past `min_free`, calls malloc_trim(0), which gives every whole
// free page back (madvise) wherever it is in the heap. A page reused within the period costs one
// page fault when it is touched again, once per period at most.
//
// It runs on the executor given (a daemon's admin thread, not its data thread): malloc_trim
// holds each arena's lock while it walks it, so an allocation on another thread may wait for
// that long: it is proportional to the pages returned (2.4 ms for 32 MiB in HeapTrimTest, so
// ~0.15 ms for the ~2 MB a ztunnel keeps after an iperf3 run), once per burst.

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>

namespace ambit {

struct HeapTrimOptions {
  std::chrono::milliseconds period{std::chrono::seconds(10)};
  size_t min_free = size_t{1} << 20;  // bytes free in the arenas before a trim is worth it
  // Only in a quiet period: the process used at most this share of one CPU since the last
  // check. mallinfo2 and malloc_trim walk every free chunk under the arena's lock; on a busy,
  // fragmented heap that is milliseconds of stalled allocations (1.2 % of a ztunnel's CPU under
  // the bench's max-rate load when it ran regardless). A burst's memory goes back once it ends.
  double quiet_cpu_share = 0.05;
  // Or when the load fell: the process used at most this fraction of the CPU it used in the
  // period before (a bulk transfer ended while lighter traffic goes on: a ztunnel carrying
  // 1,000 req/s uses ~5 % of a CPU, never "quiet", and kept an iperf3 run's ~2 MB for good).
  // A steady load never triggers it, nor a fall that still leaves more than fallen_max_share
  // of a CPU in use (a busy process whose load swings); 0 turns the rule off.
  double fallen_cpu_ratio = 0.5;
  double fallen_max_share = 0.25;
};

// The load test of HeapTrimOptions, period by period: allows() takes the share of one CPU the
// process used in the period just ended and says whether a trim may run now (quiet, or the
// load fell). For a caller with its own cadence (the ztunnel's buffer-cache decay).
class TrimLoadGate {
 public:
  explicit TrimLoadGate(const HeapTrimOptions& options) : options_(options) {}
  bool allows(double share);

 private:
  HeapTrimOptions options_;
  double share_before_ = 0;
};

// CPU seconds the whole process has used so far (every thread).
double processCpuSeconds();

// Free bytes in malloc's arenas now (mallinfo2().fordblks).
size_t heapFreeBytes();

// One check: trims when at least `min_free` bytes are free; returns whether it trimmed.
bool trimHeapIfWorthIt(size_t min_free);

// Checks every options.period on `executor` until the executor's context stops; trims in a
// quiet period or one whose load fell (HeapTrimOptions).
void startHeapTrim(boost::asio::any_io_executor executor, HeapTrimOptions options = {});

}  // namespace ambit
