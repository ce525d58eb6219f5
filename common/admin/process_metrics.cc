#include "common/admin/process_metrics.h"

#include <unistd.h>

#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>

#include "common/log.h"

namespace ambit::admin {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> splitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\n') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

Result<uint64_t> toUnsigned(std::string_view s, std::string_view what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    return makeError("{}: '{}' is not an unsigned number", what, s);
  }
  return v;
}

Result<std::string> readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return errnoError("open " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) return errnoError("read " + p.string());
  return s.str();
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type,
                                double value) {
  prometheus::ClientMetric m;
  if (type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {m}};
}

}  // namespace

Result<ProcPidStat> parseProcPidStat(std::string_view text) {
  size_t close = text.rfind(')');
  if (close == std::string_view::npos) return makeError("/proc/self/stat: no ')' after the name");
  // Fields from 3 (state) on; field N is at index N - 3.
  std::vector<std::string_view> f = splitSpaces(text.substr(close + 1));
  constexpr size_t kRssIndex = 24 - 3;
  if (f.size() <= kRssIndex) {
    return makeError("/proc/self/stat: {} fields after the name, need at least {}", f.size(),
                     kRssIndex + 1);
  }
  ProcPidStat s;
  auto field = [&](size_t number, const char* name, uint64_t& out) -> Status {
    auto v = toUnsigned(f[number - 3], fmt::format("/proc/self/stat field {} ({})", number, name));
    if (!v) return v.error();
    out = *v;
    return Status::ok();
  };
  AMBIT_TRY(field(14, "utime", s.utime_ticks));
  AMBIT_TRY(field(15, "stime", s.stime_ticks));
  AMBIT_TRY(field(22, "starttime", s.start_ticks));
  AMBIT_TRY(field(23, "vsize", s.vsize_bytes));
  AMBIT_TRY(field(24, "rss", s.rss_pages));
  return s;
}

Result<uint64_t> parseBootTime(std::string_view proc_stat) {
  while (!proc_stat.empty()) {
    size_t eol = proc_stat.find('\n');
    std::string_view line = proc_stat.substr(0, eol);
    proc_stat = eol == std::string_view::npos ? std::string_view() : proc_stat.substr(eol + 1);
    if (line.starts_with("btime ")) return toUnsigned(trim(line.substr(6)), "/proc/stat btime");
  }
  return makeError("/proc/stat: no btime line");
}

Result<double> parseMaxOpenFiles(std::string_view limits) {
  constexpr std::string_view kName = "Max open files";
  while (!limits.empty()) {
    size_t eol = limits.find('\n');
    std::string_view line = limits.substr(0, eol);
    limits = eol == std::string_view::npos ? std::string_view() : limits.substr(eol + 1);
    if (!line.starts_with(kName)) continue;
    std::vector<std::string_view> f = splitSpaces(line.substr(kName.size()));
    if (f.empty()) return makeError("/proc/self/limits: 'Max open files' has no soft limit");
    if (f[0] == "unlimited") return std::numeric_limits<double>::infinity();
    auto v = toUnsigned(f[0], "/proc/self/limits 'Max open files' soft limit");
    if (!v) return v.error();
    return static_cast<double>(*v);
  }
  return makeError("/proc/self/limits: no 'Max open files' line");
}

ProcUnits ProcUnits::host() {
  return ProcUnits{static_cast<uint64_t>(sysconf(_SC_CLK_TCK)),
                   static_cast<uint64_t>(sysconf(_SC_PAGESIZE))};
}

Result<ProcessSample> readProcessSample(const std::filesystem::path& proc_root,
                                        const ProcUnits& units) {
  if (units.ticks_per_second == 0) return makeError("clock ticks per second unknown");
  auto stat_text = readFile(proc_root / "self" / "stat");
  if (!stat_text) return stat_text.error();
  auto stat = parseProcPidStat(*stat_text);
  if (!stat) return stat.error();
  auto system_text = readFile(proc_root / "stat");
  if (!system_text) return system_text.error();
  auto boot = parseBootTime(*system_text);
  if (!boot) return boot.error();
  auto limits_text = readFile(proc_root / "self" / "limits");
  if (!limits_text) return limits_text.error();
  auto max_fds = parseMaxOpenFiles(*limits_text);
  if (!max_fds) return max_fds.error();

  std::error_code ec;
  double open_fds = 0;
  for (std::filesystem::directory_iterator it(proc_root / "self" / "fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++open_fds;
  }
  if (ec)
    return Error{ec.value(), fmt::format("list {}/self/fd: {}", proc_root.string(), ec.message())};

  const double hz = static_cast<double>(units.ticks_per_second);
  ProcessSample s;
  s.cpu_seconds = static_cast<double>(stat->utime_ticks + stat->stime_ticks) / hz;
  s.resident_memory_bytes = static_cast<double>(stat->rss_pages * units.page_size);
  s.virtual_memory_bytes = static_cast<double>(stat->vsize_bytes);
  s.open_fds = open_fds;
  s.max_fds = *max_fds;
  s.start_time_seconds = static_cast<double>(*boot) + static_cast<double>(stat->start_ticks) / hz;
  return s;
}

std::vector<prometheus::MetricFamily> processFamilies(const ProcessSample& s) {
  using prometheus::MetricType;
  std::vector<prometheus::MetricFamily> out;
  out.push_back(family("process_cpu_seconds_total",
                       "Total user and system CPU time spent in seconds.", MetricType::Counter,
                       s.cpu_seconds));
  out.push_back(family("process_resident_memory_bytes", "Resident memory size in bytes.",
                       MetricType::Gauge, s.resident_memory_bytes));
  out.push_back(family("process_virtual_memory_bytes", "Virtual memory size in bytes.",
                       MetricType::Gauge, s.virtual_memory_bytes));
  out.push_back(family("process_open_fds", "Number of open file descriptors.", MetricType::Gauge,
                       s.open_fds));
  out.push_back(family("process_max_fds", "Maximum number of open file descriptors.",
                       MetricType::Gauge, s.max_fds));
  out.push_back(family("process_start_time_seconds",
                       "Start time of the process since unix epoch in seconds.", MetricType::Gauge,
                       s.start_time_seconds));
  return out;
}

prometheus::MetricFamily buildInfoFamily(const std::string& component, const std::string& tag) {
  prometheus::MetricFamily f =
      family("istio_build", "Istio component build info", prometheus::MetricType::Gauge, 1);
  f.metric[0].label = {{"component", component}, {"tag", tag}};
  return f;
}

std::string ambitVersion() { return AMBIT_VERSION; }

ProcessCollector::ProcessCollector(std::string component, std::filesystem::path proc_root,
                                   ProcUnits units)
    : component_(std::move(component)), proc_root_(std::move(proc_root)), units_(units) {}

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  if (auto sample = readProcessSample(proc_root_, units_)) {
    out = processFamilies(*sample);
  } else {
    logDebug("process metrics: {}", sample.error().message);
  }
  out.push_back(buildInfoFamily(component_, ambitVersion()));
  return out;
}

}  // namespace ambit::admin
