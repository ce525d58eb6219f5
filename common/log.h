#pragma once
// Process-wide logging on spdlog. Components log through these helpers so the format and level
// are set in one place (initLogging in each main).

#include <spdlog/spdlog.h>

#include <string>

namespace ambit {

// level: trace|debug|info|warn|error|critical|off. Returns false for an unknown level.
bool initLogging(const std::string& component, const std::string& level);

template <typename... Args>
void logDebug(spdlog::format_string_t<Args...> f, Args&&... a) {
  spdlog::debug(f, std::forward<Args>(a)...);
}
template <typename... Args>
void logInfo(spdlog::format_string_t<Args...> f, Args&&... a) {
  spdlog::info(f, std::forward<Args>(a)...);
}
template <typename... Args>
void logWarn(spdlog::format_string_t<Args...> f, Args&&... a) {
  spdlog::warn(f, std::forward<Args>(a)...);
}
template <typename... Args>
void logError(spdlog::format_string_t<Args...> f, Args&&... a) {
  spdlog::error(f, std::forward<Args>(a)...);
}
template <typename... Args>
void logCritical(spdlog::format_string_t<Args...> f, Args&&... a) {
  spdlog::critical(f, std::forward<Args>(a)...);
}

}  // namespace ambit
