#pragma once
// Polling for conditions that become true asynchronously (a daemon reloading its config, a
// counter moving). No fixed sleeps: each poll returns as soon as the condition holds.

#include <chrono>
#include <functional>
#include <string>

namespace ambit::test {

// Polls fn() every `interval` until it returns true or `timeout` passes; the last result.
bool eventually(const std::function<bool()>& fn,
                std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds interval = std::chrono::milliseconds(50));

// The "config_version" of an admin endpoint's /config_dump body; "" when the body is not a JSON
// object or has none.
std::string configVersionOf(const std::string& config_dump);

// Polls `fetch_config_dump` (an admin /config_dump body, e.g. curl run in the daemon's netns)
// until its config_version is `version`.
bool waitForConfigVersion(const std::function<std::string()>& fetch_config_dump,
                          const std::string& version,
                          std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace ambit::test
