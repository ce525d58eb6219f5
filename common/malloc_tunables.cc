#include "common/malloc_tunables.h"

#include <sys/auxv.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace ambit {

std::optional<std::string> withTunable(const char* current, std::string_view name,
                                       std::string_view value) {
  const std::string_view tunables = current ? current : "";
  // "a.b.c=v:d.e.f=w"; glibc reads the entries in order.
  for (size_t start = 0; start <= tunables.size();) {
    size_t end = tunables.find(':', start);
    if (end == std::string_view::npos) end = tunables.size();
    const std::string_view entry = tunables.substr(start, end - start);
    if (entry.substr(0, entry.find('=')) == name) return std::nullopt;
    start = end + 1;
  }
  std::string out(tunables);
  if (!out.empty()) out += ':';
  out.append(name).append("=").append(value);
  return out;
}

namespace {

// Set for the second start only, so that nothing can make the program execute itself over and
// over (a wrapper or preload that drops GLIBC_TUNABLES again); removed at once.
constexpr const char* kSecondStart = "AMBIT_MALLOC_TUNABLES_APPLIED";

void warn(const char* what, const std::string& tunables) {
  std::fprintf(stderr,
               "warning: not running with GLIBC_TUNABLES=%s: %s; going on with glibc's "
               "malloc cache size\n",
               tunables.c_str(), what);
}

// The file mapped at `address` (from /proc/self/maps), or "" when none is.
std::string mappedFile(const void* address) {
  std::ifstream maps("/proc/self/maps");
  const auto at = reinterpret_cast<uintptr_t>(address);
  for (std::string line; std::getline(maps, line);) {
    uintptr_t start = 0, end = 0;
    int path_at = -1;
    if (std::sscanf(line.c_str(), "%" SCNxPTR "-%" SCNxPTR " %*s %*s %*s %*s %n", &start, &end,
                    &path_at) < 2 ||
        path_at < 0) {
      continue;
    }
    if (at >= start && at < end) return line.substr(static_cast<size_t>(path_at));
  }
  return {};
}

}  // namespace

void ensureMallocTcacheCount(char** argv, unsigned count) {
  if (std::getenv(kSecondStart)) {
    unsetenv(kSecondStart);
    return;
  }
  const char* before = std::getenv("GLIBC_TUNABLES");
  const std::optional<std::string> tunables =
      withTunable(before, "glibc.malloc.tcache_count", std::to_string(count));
  if (!tunables || getauxval(AT_SECURE) != 0) return;
  // The program's own path, so that the new image's name (ps, /proc/PID/comm) is the program's,
  // and only when the process is that program: started as `ld.so PROGRAM`, /proc/self/exe is the
  // loader, and this code is mapped from another file.
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(path) - 1) {
    return warn("/proc/self/exe does not name the program", *tunables);
  }
  path[n] = '\0';
  if (std::string_view(path).ends_with(" (deleted)")) {
    return warn("the program's file was replaced since it started", *tunables);
  }
  if (mappedFile(reinterpret_cast<const void*>(&ensureMallocTcacheCount)) != path) {
    return warn("started through the dynamic loader (or /proc/self/maps is unreadable)", *tunables);
  }
  const std::optional<std::string> saved =
      before ? std::optional<std::string>(before) : std::nullopt;
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0 || setenv(kSecondStart, "1", 1) != 0) {
    return warn("setenv failed", *tunables);
  }
  execv(path, argv);
  const int err = errno;
  warn((std::string("executing ") + path + " failed: " + std::strerror(err)).c_str(), *tunables);
  // Children should not inherit what this process does not have.
  unsetenv(kSecondStart);
  if (saved) {
    setenv("GLIBC_TUNABLES", saved->c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace ambit
