#include "common/async/spawn.h"

#include <stdexcept>

#include "common/log.h"

namespace ambit::detail {

void LogSpawnFailure::operator()(std::exception_ptr error) const {
  if (!error) {
    if (on_exit) on_exit(false);
    return;
  }
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    logError("{} failed: {}", what, e.what());
  } catch (...) {
    logError("{} failed: an exception not derived from std::exception", what);
  }
  if (on_exit) on_exit(true);
}

}  // namespace ambit::detail
