#include "common/malloc_tunables.h"

#include <sys/auxv.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

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

void ensureMallocTcacheCount(char** argv, unsigned count) {
  const char* before = std::getenv("GLIBC_TUNABLES");
  const std::optional<std::string> tunables =
      withTunable(before, "glibc.malloc.tcache_count", std::to_string(count));
  if (!tunables || getauxval(AT_SECURE) != 0) return;
  const std::optional<std::string> saved =
      before ? std::optional<std::string>(before) : std::nullopt;
  // The program's own path, so that the new image's name (ps, /proc/PID/comm) is the program's.
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 1);
  if (n <= 0 || static_cast<size_t>(n) >= sizeof(path) - 1) return;
  path[n] = '\0';
  if (std::string_view(path).ends_with(" (deleted)")) return;  // replaced on disk since
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), 1) != 0) return;
  execv(path, argv);
  const int err = errno;
  std::fprintf(stderr,
               "warning: re-executing %s with GLIBC_TUNABLES=%s failed: %s; going on "
               "with glibc's malloc cache size\n",
               path, tunables->c_str(), std::strerror(err));
  // Children should not inherit what this process does not have.
  if (saved) {
    setenv("GLIBC_TUNABLES", saved->c_str(), 1);
  } else {
    unsetenv("GLIBC_TUNABLES");
  }
}

}  // namespace ambit
