#pragma once
// Human- and machine-readable dumps of a snapshot (`ambitctl config dump`, admin /config_dump).
// Field names are the proto (snake_case) names; default values are omitted.

#include <string>

#include "ambit/v1/mesh.pb.h"
#include "common/status.h"

namespace ambit::config {

Result<std::string> snapshotToJson(const v1::MeshSnapshot& snapshot);
Result<std::string> snapshotToYaml(const v1::MeshSnapshot& snapshot);

}  // namespace ambit::config
