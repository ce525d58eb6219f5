#include "common/discovery/authenticator.h"

#include <fmt/format.h>

namespace ambit::discovery {

std::string Principal::toString() const {
  std::string out = namespace_name.empty() && service_account.empty()
                        ? std::string("local")
                        : fmt::format("{}/{}", namespace_name, service_account);
  if (node) out += fmt::format(" node={}", *node);
  if (pod) out += fmt::format(" pod={}", *pod);
  return out;
}

void AllowLocal::authenticate(const CallerInfo& caller, Done done) {
  if (!caller.unix_socket) {
    done(
        makeError("this discovery server accepts only local callers on its unix socket; "
                  "{} is not one",
                  caller.peer));
    return;
  }
  done(principal_);
}

}  // namespace ambit::discovery
