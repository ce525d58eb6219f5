#include "common/config/config_error.h"

#include <fmt/format.h>

namespace ambit::config {

std::string ConfigError::toString() const {
  std::string out = file;
  if (line > 0) out += fmt::format(":{}", line);
  out += ": ";
  if (!object.empty()) out += object + ": ";
  out += reason;
  return out;
}

}  // namespace ambit::config
