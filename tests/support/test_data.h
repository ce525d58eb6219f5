#pragma once
// Shared YAML fixtures, kept as files under tests/data/ so tests, benchmarks and scripts
// (tests/bench/bench.py) read one definition. Each call returns the file's content, read once.

#include <string>
#include <string_view>

namespace ambit::test {

// <source dir>/tests/data/<name>; throws std::runtime_error naming the path when it is missing
// or empty.
const std::string& testData(std::string_view name);

// The seed example every layer must handle verbatim (DESIGN.md §1): a networking.istio.io
// v1alpha3 VirtualService sending 80% to subset v1 and 20% to subset v2 of my-app.
const std::string& seedVirtualService();
// The same split with the Gateway API (GAMMA): an HTTPRoute on Service my-app weighting the
// per-version Services my-app-v1 / my-app-v2; header x-canary: yes goes to v2.
const std::string& canaryHttpRoute();
// The waypoint tests' mesh: Service my-app (10.96.0.10:80 -> 8080) with endpoints my-app-v1
// (127.0.0.2), my-app-v1b (127.0.0.4) labelled v1 and my-app-v2 (127.0.0.3) labelled v2, a client
// pod (10.1.2.3), a DestinationRule with subsets v1/v2 and Services my-app-v1 / my-app-v2.
const std::string& meshYaml();

}  // namespace ambit::test
