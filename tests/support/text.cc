#include "tests/support/text.h"

namespace ambit::test {

size_t occurrences(std::string_view text, std::string_view what) {
  if (what.empty()) return 0;
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string_view::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

}  // namespace ambit::test
