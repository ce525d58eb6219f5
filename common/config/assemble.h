#pragma once
// Internal to ambit_config: cross-resource checks and assembly of the final snapshot.

#include <set>
#include <string>

#include "common/config/loader.h"
#include "common/config/model.h"

namespace ambit::config {

// Checks that span resources: subsets referenced by routes exist in a DestinationRule for the
// same host; no pod IP is claimed by two pods.
void crossCheck(const PartialModel& model, ConfigErrors& errors);

// Builds the snapshot from items whose file is not in `bad_files`, deriving enrollment,
// waypoint binding and service endpoints. `version` is left to the caller.
v1::MeshSnapshot assemble(const PartialModel& model, const std::set<std::string>& bad_files,
                          const LoaderOptions& options);

}  // namespace ambit::config
