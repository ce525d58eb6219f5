// Ztunnel::create refuses bad flags before it touches the node, naming the flag.

#include <gtest/gtest.h>

#include "ztunnel/ztunnel.h"

namespace ambit::ztunnel {
namespace {

std::string refusal(ZtunnelOptions o) {
  auto z = Ztunnel::create(std::move(o));
  return z ? std::string("(created)") : z.error().message;
}

TEST(ZtunnelOptions, BadFlagsAreRefusedByName) {
  EXPECT_EQ(refusal({.config_dir = "/nonexistent"}), "--node is required");
  EXPECT_NE(refusal({.node = "n", .discovery_address = "ambit-control.ambit-system:15012"})
                .find("--discovery-address ambit-control.ambit-system:15012: the ztunnel takes "
                      "its mesh from its node agent's relay, a unix socket"),
            std::string::npos);
  EXPECT_NE(refusal({.node = "n", .discovery_address = "unix:relative.sock"})
                .find("--discovery-address unix:relative.sock"),
            std::string::npos);
  EXPECT_NE(refusal({.node = "n"}).find("exactly one of --config-dir"), std::string::npos);
  EXPECT_NE(refusal({.node = "n", .config_dir = "/x", .discovery_address = "unix:/run/x.sock"})
                .find("exactly one of --config-dir"),
            std::string::npos);
}

}  // namespace
}  // namespace ambit::ztunnel
