#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ambit {

bool initLogging(const std::string& component, const std::string& level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") return false;
  auto logger = spdlog::stderr_color_mt(component);
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %^%l%$ %n %v", spdlog::pattern_time_type::utc);
  spdlog::set_level(lvl);
  return true;
}

}  // namespace ambit
