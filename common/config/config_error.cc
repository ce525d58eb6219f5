#include "common/config/config_error.h"

#include <fmt/format.h>

#include "common/log.h"

namespace ambit::config {

std::string ConfigError::toString() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}", line);
  out += ": ";
  if (!object.empty()) out += object + ": ";
  out += reason;
  return out;
}

void logRejected(const ConfigErrors& errors) {
  for (const auto& e : errors)
    logError("config rejected, last good config stays: {}", e.toString());
}

}  // namespace ambit::config
