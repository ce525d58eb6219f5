#include <cstdio>
#include <mutex>
#include <string_view>

#include "common/bpf/skeleton.h"
#include "common/log.h"

namespace ambit::bpf {
namespace {

// libbpf WARN (verifier logs, pinning conflicts) -> warn; INFO/DEBUG -> debug.
int libbpfPrint(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[4096];
  int n = std::vsnprintf(buf, sizeof(buf), format, args);
  std::string_view msg(buf, n > 0 ? std::min<size_t>(static_cast<size_t>(n), sizeof(buf) - 1) : 0);
  while (!msg.empty() && msg.back() == '\n') msg.remove_suffix(1);
  if (level == LIBBPF_WARN) {
    logWarn("libbpf: {}", msg);
  } else {
    logDebug("libbpf: {}", msg);
  }
  return n;
}

}  // namespace

void installLibbpfLogger() {
  static std::once_flag once;
  std::call_once(once, [] { libbpf_set_print(libbpfPrint); });
}

}  // namespace ambit::bpf
