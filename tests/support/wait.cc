#include "tests/support/wait.h"

#include <nlohmann/json.hpp>
#include <thread>

namespace ambit::test {

bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds timeout,
                std::chrono::milliseconds interval) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (fn()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
}

std::string configVersionOf(const std::string& config_dump) {
  const auto j = nlohmann::json::parse(config_dump, nullptr, false);
  if (!j.is_object()) return "";
  const auto it = j.find("config_version");
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

bool waitForConfigVersion(const std::function<std::string()>& fetch_config_dump,
                          const std::string& version, std::chrono::milliseconds timeout) {
  return eventually([&] { return configVersionOf(fetch_config_dump()) == version; }, timeout);
}

}  // namespace ambit::test
