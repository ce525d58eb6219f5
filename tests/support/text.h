#pragma once
// Small text queries tests make on logs and command output.

#include <cstddef>
#include <string_view>

namespace ambit::test {

// How many times `what` occurs in `text`, overlapping occurrences included; 0 for an empty
// `what`.
size_t occurrences(std::string_view text, std::string_view what);

}  // namespace ambit::test
