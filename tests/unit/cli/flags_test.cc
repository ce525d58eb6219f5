// The ambitctl binary's answers to wrong command lines: a clear message naming the problem on
// stderr and a non-zero exit, never a crash.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "common/unique_fd.h"
#include "tests/support/subprocess.h"
#include "tests/support/temp_dir.h"

namespace ambit::cli {
namespace {

test::CommandOutput ambitctl(std::vector<std::string> args) {
  args.insert(args.begin(), std::string(AMBIT_BINARY_DIR) + "/bin/ambitctl");
  return test::run(args, std::chrono::seconds(30));
}

void expectFailure(const test::CommandOutput& r, const std::string& message) {
  EXPECT_NE(r.exit_code, 0);
  EXPECT_LT(r.exit_code, 128) << "killed by a signal";
  EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
}

// A loopback port nothing listens on (bound, not listening, while the object lives).
struct RefusingPort {
  RefusingPort() : fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len) == 0) {
      port = ntohs(a.sin_port);
    }
  }
  UniqueFd fd;
  int port = 0;
};

TEST(AmbitctlFlagsTest, BadOutputFormat) {
  expectFailure(ambitctl({"ztunnel-config", "workloads", "-o", "xml", "--address", "127.0.0.1:1"}),
                "-o 'xml': unknown output format (use short, json or yaml)");
  expectFailure(ambitctl({"proxy-status", "-o", "table", "--lab", "ctl-unit-no-lab"}),
                "-o 'table'");
}

TEST(AmbitctlFlagsTest, UnknownSubcommandListsTheRealOnes) {
  expectFailure(ambitctl({"ztunnel-config", "pods"}),
                "ambitctl ztunnel-config: unknown subcommand 'pods' (use workloads, services, "
                "policies, certificates, connections, all)");
  expectFailure(ambitctl({"waypoint", "create"}), "unknown subcommand 'create'");
  expectFailure(ambitctl({"waypoint"}), "a subcommand is required");
}

TEST(AmbitctlFlagsTest, UnknownOptionIsRejected) {
  auto r = ambitctl({"ztunnel-config", "workloads", "--bogus", "--address", "127.0.0.1:1"});
  expectFailure(r, "--bogus");
}

TEST(AmbitctlFlagsTest, UnreachableAddressIsNamed) {
  RefusingPort port;
  ASSERT_NE(port.port, 0);
  std::string addr = "127.0.0.1:" + std::to_string(port.port);
  for (const char* view : {"workloads", "certificates", "connections", "all"}) {
    expectFailure(ambitctl({"ztunnel-config", view, "--address", addr}),
                  "ambitctl ztunnel-config " + std::string(view) + ": GET http://" + addr +
                      "/config_dump: connect: Connection refused");
  }
}

TEST(AmbitctlFlagsTest, ConflictingTargets) {
  expectFailure(
      ambitctl({"ztunnel-config", "workloads", "--node", "node1", "--address", "127.0.0.1:15000"}),
      "--node and --address name two targets");
  expectFailure(ambitctl({"ztunnel-config", "workloads", "--address", "nohost"}),
                "--address 'nohost': expected host:port");
}

TEST(AmbitctlFlagsTest, NoLabSaysHowToStartOne) {
  expectFailure(ambitctl({"proxy-status", "--lab", "ctl-unit-no-lab"}),
                "no lab 'ctl-unit-no-lab' is up");
  expectFailure(ambitctl({"ztunnel-config", "services", "--lab", "ctl-unit-no-lab"}),
                "ambitctl lab up");
}

TEST(AmbitctlFlagsTest, WaypointFlagErrors) {
  expectFailure(ambitctl({"waypoint", "generate", "--for", "pods"}),
                "ambitctl waypoint generate: --for 'pods': use service, workload, all or none");
  expectFailure(ambitctl({"waypoint", "generate", "--name", "Not_A_Label"}),
                "--name 'Not_A_Label'");
  expectFailure(ambitctl({"waypoint", "list", "--config-dir", "/nonexistent/ctl-unit"}),
                "config directory /nonexistent/ctl-unit does not exist");
}

TEST(AmbitctlFlagsTest, WaypointLifecycleInAConfigDirectory) {
  test::TempDir dir("ctl-flags");
  auto apply = ambitctl({"waypoint", "apply", "--config-dir", dir.path().string(), "-n", "shop",
                         "--name", "w1", "--for", "all"});
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  auto list = ambitctl({"waypoint", "list", "--config-dir", dir.path().string(), "-n", "shop"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out.substr(0, list.out.find('\n')), "NAME TRAFFIC TYPE PROGRAMMED");
  EXPECT_NE(list.out.find("w1   all          False"), std::string::npos) << list.out;
  auto del = ambitctl(
      {"waypoint", "delete", "--config-dir", dir.path().string(), "-n", "shop", "--name", "w1"});
  ASSERT_EQ(del.exit_code, 0) << del.err;
  list = ambitctl({"waypoint", "list", "--config-dir", dir.path().string(), "-n", "shop"});
  EXPECT_EQ(list.out, "No waypoints found in namespace shop.\n");
}

}  // namespace
}  // namespace ambit::cli
