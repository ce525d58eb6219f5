#pragma once
// The process's own vital signs and build, in the names every Prometheus client library uses
// (process_*, read from procfs) and Istio's build gauge, so the dashboards and alerts written
// for Istio's ztunnel and for any Prometheus-instrumented service apply to ambit's daemons:
//
//   process_cpu_seconds_total            counter  user + system CPU time
//   process_resident_memory_bytes        gauge    RSS
//   process_virtual_memory_bytes         gauge    virtual memory size
//   process_open_fds                     gauge    open file descriptors
//   process_max_fds                      gauge    RLIMIT_NOFILE soft limit (+Inf when unlimited)
//   process_start_time_seconds           gauge    start time, seconds since the Unix epoch
//   istio_build{component,tag}           gauge    1; tag is ambit's version
//
// The parsers are pure functions over the text of the procfs files (tests feed them fixtures);
// ProcessCollector reads the files under a procfs root at every scrape.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ambit::admin {

// The fields of /proc/<pid>/stat that the process metrics need, in the kernel's units.
struct ProcPidStat {
  uint64_t utime_ticks = 0;  // field 14, clock ticks
  uint64_t stime_ticks = 0;  // field 15, clock ticks
  uint64_t start_ticks = 0;  // field 22, clock ticks after boot
  uint64_t vsize_bytes = 0;  // field 23
  uint64_t rss_pages = 0;    // field 24
};

// /proc/<pid>/stat. The command name (field 2) may hold spaces and parentheses: fields are
// counted from its last ')'. Errors name the missing or malformed field.
Result<ProcPidStat> parseProcPidStat(std::string_view text);

// The `btime` line of /proc/stat: boot time, seconds since the Unix epoch.
Result<uint64_t> parseBootTime(std::string_view proc_stat);

// The soft limit of the "Max open files" line of /proc/<pid>/limits; "unlimited" is +Inf.
Result<double> parseMaxOpenFiles(std::string_view limits);

// What the kernel's units are worth on this machine (sysconf), injectable for tests.
struct ProcUnits {
  uint64_t ticks_per_second = 0;
  uint64_t page_size = 0;
  static ProcUnits host();
};

struct ProcessSample {
  double cpu_seconds = 0;
  double resident_memory_bytes = 0;
  double virtual_memory_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};

// Reads <proc_root>/self/{stat,limits,fd/} and <proc_root>/stat.
Result<ProcessSample> readProcessSample(const std::filesystem::path& proc_root,
                                        const ProcUnits& units);

// The families above, from a sample (empty when the sample failed: only istio_build remains).
std::vector<prometheus::MetricFamily> processFamilies(const ProcessSample& sample);
prometheus::MetricFamily buildInfoFamily(const std::string& component, const std::string& tag);

// ambit's version (CMake's project version), the `tag` of istio_build.
std::string ambitVersion();

// A collectable for the admin server's /metrics: samples procfs at each Collect() (the admin
// thread; a few small file reads). Thread-safe: holds only immutable settings.
class ProcessCollector final : public prometheus::Collectable {
 public:
  explicit ProcessCollector(std::string component, std::filesystem::path proc_root = "/proc",
                            ProcUnits units = ProcUnits::host());
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string component_;
  std::filesystem::path proc_root_;
  ProcUnits units_;
};

}  // namespace ambit::admin
