#pragma once
// Throwaway kernel objects for BPF kernel tests; every one removes itself in its destructor
// (so also when an ASSERT fails). Names carry the test pid: ambit-t-<pid>-<n>.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/bpf/addr.h"
#include "common/bpf/capture_datapath.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "tests/support/requirements.h"

namespace ambit::bpf::testing {

// Why kernel tests cannot run here (root, cgroup v2, BPF), or nullopt:
//   AMBIT_REQUIRE(testing::missingKernelTestEnv());
std::optional<std::string> missingKernelTestEnv();

// "10.1.2.3:80" / "[::1]:15006" and "10.1.2.3" / "fd00::2"; a test failure when malformed.
SockAddr addr(const char* text);
IpAddr ip(const char* text);

std::string uniqueName(const char* prefix);  // "<prefix>-<pid>-<counter>"

// Runs a shell command; error with its text, exit status and output when it fails.
Status run(const std::string& cmd);

// `ip netns add`, lo up; deleted on destruction.
class TestNetns {
 public:
  static Result<TestNetns> create();
  TestNetns(TestNetns&& o) noexcept : name_(std::move(o.name_)), fd_(std::move(o.fd_)) {
    o.name_.clear();
  }
  ~TestNetns();
  const std::string& name() const { return name_; }
  int fd() const { return fd_.get(); }
  Result<uint64_t> cookie() const;
  // `ip -n <name> <args>`
  Status ip(const std::string& args) const;

 private:
  TestNetns(std::string name, UniqueFd fd) : name_(std::move(name)), fd_(std::move(fd)) {}
  std::string name_;
  UniqueFd fd_;
};

// A child cgroup of the cgroup2 mount; removed (after its processes exit) on destruction.
class TestCgroup {
 public:
  static Result<TestCgroup> create();
  TestCgroup(TestCgroup&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }
  ~TestCgroup();
  const std::string& path() const { return path_; }

 private:
  explicit TestCgroup(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// /sys/fs/bpf/ambit-test-<pid>-<n>; CaptureDatapath::cleanup() + rm -rf on destruction.
class TestPinDir {
 public:
  TestPinDir();
  ~TestPinDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A TCP listener bound to addr (port 0 = any) inside a netns.
Result<UniqueFd> listenIn(int netns_fd, const SockAddr& addr);
// Accepts one connection within timeout_ms; nullopt-like invalid fd when none arrived.
Result<UniqueFd> acceptWithin(int listener_fd, int timeout_ms);
SockAddr localAddr(int fd);
SockAddr peerAddr(int fd);

// What a client in a pod (cgroup + netns) observed.
struct ClientReport {
  int connect_errno = 0;
  SockAddr local;  // getsockname
  SockAddr peer;   // getpeername (rewritten by cgroup/getpeername for captured sockets)
};

struct ClientSpec {
  SockAddr dst;
  bool ipv6_socket = false;      // AF_INET6 socket even for an IPv4 dst (v4-mapped)
  std::optional<SockAddr> bind;  // explicit source
  uint32_t mark = 0;             // SO_MARK when non-zero
};

// A forked process that joins `cgroup` (if non-empty), enters the netns, connects and reports;
// it keeps the connection open until this object is destroyed.
class PodClient {
 public:
  static Result<PodClient> start(const std::string& cgroup, int netns_fd, const ClientSpec& spec);
  PodClient(PodClient&& o) noexcept;
  ~PodClient();
  const ClientReport& report() const { return report_; }

 private:
  PodClient() = default;
  pid_t pid_ = -1;
  UniqueFd hold_;
  ClientReport report_;
};

// A forked process in a pod (cgroup + netns) that connects to dst over and over for
// duration_ms, closing each connection once established.
struct ConnectLoopReport {
  int attempts = 0;
  int failures = 0;
  int first_errno = 0;
};

class ConnectLoop {
 public:
  static Result<ConnectLoop> start(const std::string& cgroup, int netns_fd, const SockAddr& dst,
                                   int duration_ms);
  ConnectLoop(ConnectLoop&& o) noexcept;
  ~ConnectLoop();
  // Waits for the loop to finish.
  Result<ConnectLoopReport> join();

 private:
  ConnectLoop() = default;
  pid_t pid_ = -1;
  UniqueFd report_;
};

// A CaptureDatapath on a throwaway cgroup and pin dir, skipped loudly where kernel tests cannot
// run. Derived fixtures call DatapathTest::SetUp() first; members go away datapath first, then
// the pins (links detached), then the cgroup.
class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override;

  std::optional<TestCgroup> cgroup_;
  TestPinDir pin_;
  std::unique_ptr<CaptureDatapath> dp_;
};

// Connects from inside a netns (this process, no cgroup), optionally from a bound source.
Result<UniqueFd> connectFrom(int netns_fd, const SockAddr& dst,
                             std::optional<SockAddr> bind = std::nullopt);

}  // namespace ambit::bpf::testing
