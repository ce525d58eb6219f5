#include "tests/support/test_data.h"

#include <map>
#include <mutex>
#include <stdexcept>

#include "tests/support/files.h"

namespace ambit::test {

const std::string& testData(std::string_view name) {
  static std::mutex mu;
  static std::map<std::string, std::string, std::less<>> cache;
  std::lock_guard lock(mu);
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  const std::string path = std::string(AMBIT_SOURCE_DIR) + "/tests/data/" + std::string(name);
  std::string content = readFile(path);
  if (content.empty()) throw std::runtime_error("test data " + path + " is missing or empty");
  return cache.emplace(std::string(name), std::move(content)).first->second;
}

const std::string& seedVirtualService() { return testData("seed-virtualservice.yaml"); }
const std::string& canaryHttpRoute() { return testData("canary-httproute.yaml"); }
const std::string& meshYaml() { return testData("mesh.yaml"); }

}  // namespace ambit::test
