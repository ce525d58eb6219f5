#pragma once
// The waypoint tests' mesh (tests/data/mesh.yaml): Service my-app (10.96.0.10:80 -> 8080) with
// endpoints my-app-v1 (127.0.0.2), my-app-v1b (127.0.0.4) labelled version v1 and my-app-v2
// (127.0.0.3) labelled v2, a DestinationRule with subsets v1/v2, per-version Services
// my-app-v1 / my-app-v2 (for HTTPRoute backendRefs), and whatever extra YAML a test adds.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "common/config/loader.h"
#include "tests/support/test_data.h"
#include "waypoint/mesh_index.h"

namespace ambit::waypoint::testing {

using test::seedVirtualService;  // the seed VirtualService, verbatim

inline std::shared_ptr<const MeshIndex> buildIndex(const std::string& extra_yaml = "") {
  std::vector<config::SourceDocument> docs{{"mesh.yaml", test::meshYaml()}};
  if (!extra_yaml.empty()) docs.push_back({"extra.yaml", extra_yaml});
  config::LoadResult r = config::translate(docs);
  for (const auto& e : r.errors) ADD_FAILURE() << e.toString();
  auto index = MeshIndex::build(std::make_shared<const v1::MeshSnapshot>(std::move(r.snapshot)));
  EXPECT_TRUE(index) << (index ? "" : index.error().message);
  return index ? *index : nullptr;
}

}  // namespace ambit::waypoint::testing
