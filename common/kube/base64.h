#pragma once
// Standard base64, as Kubernetes uses it (kubeconfig *-data fields, Secret data).

#include <string>
#include <string_view>

#include "common/status.h"

namespace ambit::kube {

// Whitespace is ignored; anything else that is not base64 is an error.
Result<std::string> base64Decode(std::string_view text);
std::string base64Encode(std::string_view bytes);

}  // namespace ambit::kube
