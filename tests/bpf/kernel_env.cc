#include "tests/bpf/kernel_env.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/bpf/capture_datapath.h"
#include "common/cgroup.h"
#include "common/netns.h"
#include "tests/support/subprocess.h"

namespace ambit::bpf::testing {

std::optional<std::string> missingKernelTestEnv() {
  return test::firstMissing({test::missingRoot("attaches BPF programs, creates cgroups and netns"),
                             test::missingCgroup2(), test::missingBpf()});
}

SockAddr addr(const char* text) {
  auto a = SockAddr::parse(text);
  EXPECT_TRUE(a) << a.error().message;
  return a ? *a : SockAddr{};
}

IpAddr ip(const char* text) {
  auto a = IpAddr::parse(text);
  EXPECT_TRUE(a) << a.error().message;
  return a ? *a : IpAddr{};
}

std::string uniqueName(const char* prefix) {
  static std::atomic<int> counter{0};
  return fmt::format("{}-{}-{}", prefix, ::getpid(), counter++);
}

Status run(const std::string& cmd) {
  test::CommandOutput r = test::sh(cmd, std::chrono::seconds(60), /*merge_stderr=*/true);
  if (r.exit_code != 0) {
    return makeError("command failed (status {}): {}: {}", r.exit_code, cmd, r.out);
  }
  return Status::ok();
}

Result<TestNetns> TestNetns::create() {
  std::string name = uniqueName("ambit-t");
  AMBIT_TRY(run("ip netns add " + name));
  auto fd = openNetns("/run/netns/" + name);
  if (!fd) {
    (void)run("ip netns del " + name);
    return fd.error();
  }
  TestNetns ns(name, std::move(*fd));
  AMBIT_TRY(ns.ip("link set lo up"));
  return ns;
}

TestNetns::~TestNetns() {
  fd_.reset();
  if (!name_.empty()) (void)run("ip netns del " + name_);
}

Result<uint64_t> TestNetns::cookie() const { return netnsCookie(fd_.get()); }

Status TestNetns::ip(const std::string& args) const {
  return run(fmt::format("ip -n {} {}", name_, args));
}

Result<TestCgroup> TestCgroup::create() {
  auto mount = findCgroup2Mount();
  AMBIT_TRY(mount);
  std::string path = fmt::format("{}/{}", *mount, uniqueName("ambit-t"));
  if (::mkdir(path.c_str(), 0755) != 0) return errnoError(fmt::format("mkdir {}", path));
  return TestCgroup(path);
}

TestCgroup::~TestCgroup() {
  if (path_.empty()) return;
  for (int i = 0; i < 50; ++i) {
    if (::rmdir(path_.c_str()) == 0 || errno == ENOENT) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ADD_FAILURE() << "could not remove test cgroup " << path_ << ": " << std::strerror(errno);
}

TestPinDir::TestPinDir() : path_(fmt::format("/sys/fs/bpf/{}", uniqueName("ambit-test"))) {}

TestPinDir::~TestPinDir() {
  auto st = CaptureDatapath::cleanup(path_);
  if (!st) ADD_FAILURE() << "cleanup of " << path_ << ": " << st.message();
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void DatapathTest::SetUp() {
  AMBIT_REQUIRE(missingKernelTestEnv());
  auto cg = TestCgroup::create();
  ASSERT_TRUE(cg) << cg.error().message;
  cgroup_.emplace(std::move(*cg));
  auto dp = CaptureDatapath::open(pin_.path(), cgroup_->path());
  ASSERT_TRUE(dp) << dp.error().message;
  dp_ = std::move(*dp);
}

Result<UniqueFd> listenIn(int netns_fd, const SockAddr& addr) {
  return inNetns(netns_fd, [&]() -> Result<UniqueFd> {
    sockaddr_storage ss{};
    socklen_t len = addr.toSockaddr(&ss);
    UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errnoError("socket");
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
      ::setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) != 0) {
      return errnoError(fmt::format("bind {}", addr.toString()));
    }
    if (::listen(fd.get(), 512) != 0) return errnoError("listen");
    return fd;
  });
}

Result<UniqueFd> acceptWithin(int listener_fd, int timeout_ms) {
  pollfd p{listener_fd, POLLIN, 0};
  int n = ::poll(&p, 1, timeout_ms);
  if (n < 0) return errnoError("poll listener");
  if (n == 0) return UniqueFd();
  UniqueFd fd(::accept4(listener_fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!fd) return errnoError("accept");
  return fd;
}

namespace {

SockAddr addrOf(int fd, bool peer) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  if (rc != 0) return SockAddr{};
  auto a = SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&ss), len);
  return a ? *a : SockAddr{};
}

// Non-blocking connect with a bound wait, so a wrong route fails fast instead of hanging.
int connectSocket(int fd, const sockaddr_storage& ss, socklen_t len) {
  int flags = ::fcntl(fd, F_GETFL);
  ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len);
  int err = rc == 0 ? 0 : errno;
  if (err == EINPROGRESS) {
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 3000) != 1) return ETIMEDOUT;
    socklen_t elen = sizeof(err);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen);
  }
  ::fcntl(fd, F_SETFL, flags);
  return err;
}

Result<UniqueFd> makeClientSocket(const ClientSpec& spec) {
  sockaddr_storage dst{};
  socklen_t dlen = spec.dst.toSockaddr(&dst, spec.ipv6_socket);
  UniqueFd fd(::socket(dst.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return errnoError("client socket");
  if (spec.mark != 0 &&
      ::setsockopt(fd.get(), SOL_SOCKET, SO_MARK, &spec.mark, sizeof(spec.mark)) != 0) {
    return errnoError("SO_MARK");
  }
  if (spec.bind) {
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_storage src{};
    socklen_t slen = spec.bind->toSockaddr(&src, spec.ipv6_socket);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&src), slen) != 0) {
      return errnoError(fmt::format("bind {}", spec.bind->toString()));
    }
  }
  (void)dlen;
  return fd;
}

struct WireReport {
  int setup_errno;
  int connect_errno;
  sockaddr_storage local;
  socklen_t local_len;
  sockaddr_storage peer;
  socklen_t peer_len;
};

[[noreturn]] void childMain(const std::string& cgroup, int netns_fd, const ClientSpec& spec,
                            int report_fd, int hold_fd) {
  WireReport w{};
  if (!cgroup.empty()) {
    std::string pid = std::to_string(::getpid());
    int cfd = ::open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
    if (cfd < 0 || ::write(cfd, pid.data(), pid.size()) < 0) w.setup_errno = errno;
    if (cfd >= 0) ::close(cfd);
  }
  if (w.setup_errno == 0 && ::setns(netns_fd, CLONE_NEWNET) != 0) w.setup_errno = errno;
  UniqueFd fd;
  if (w.setup_errno == 0) {
    auto s = makeClientSocket(spec);
    if (s) {
      fd = std::move(*s);
    } else {
      w.setup_errno = s.error().code ? s.error().code : EINVAL;
    }
  }
  if (w.setup_errno == 0) {
    sockaddr_storage dst{};
    socklen_t dlen = spec.dst.toSockaddr(&dst, spec.ipv6_socket);
    w.connect_errno = connectSocket(fd.get(), dst, dlen);
    w.local_len = sizeof(w.local);
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&w.local), &w.local_len);
    w.peer_len = sizeof(w.peer);
    if (::getpeername(fd.get(), reinterpret_cast<sockaddr*>(&w.peer), &w.peer_len) != 0) {
      w.peer_len = 0;
    }
  }
  if (::write(report_fd, &w, sizeof(w)) != sizeof(w)) ::_exit(3);
  char c;
  while (::read(hold_fd, &c, 1) > 0) {
  }
  ::_exit(0);
}

[[noreturn]] void loopMain(const std::string& cgroup, int netns_fd, const SockAddr& dst,
                           int duration_ms, int report_fd) {
  ConnectLoopReport r;
  std::string pid = std::to_string(::getpid());
  int cfd = ::open((cgroup + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC);
  bool joined = cfd >= 0 && ::write(cfd, pid.data(), pid.size()) > 0;
  if (cfd >= 0) ::close(cfd);
  if (!joined || ::setns(netns_fd, CLONE_NEWNET) != 0) {
    r.failures = -1;
    r.first_errno = errno;
  } else {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(duration_ms);
    sockaddr_storage ss{};
    socklen_t len = dst.toSockaddr(&ss);
    while (std::chrono::steady_clock::now() < end) {
      UniqueFd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
      int err = fd ? connectSocket(fd.get(), ss, len) : errno;
      ++r.attempts;
      if (err != 0) {
        ++r.failures;
        if (r.first_errno == 0) r.first_errno = err;
      }
    }
  }
  if (::write(report_fd, &r, sizeof(r)) != sizeof(r)) ::_exit(3);
  ::_exit(0);
}

}  // namespace

Result<ConnectLoop> ConnectLoop::start(const std::string& cgroup, int netns_fd, const SockAddr& dst,
                                       int duration_ms) {
  int p[2];
  if (::pipe2(p, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd r(p[0]), w(p[1]);
  pid_t pid = ::fork();
  if (pid < 0) return errnoError("fork");
  if (pid == 0) loopMain(cgroup, netns_fd, dst, duration_ms, w.get());
  ConnectLoop loop;
  loop.pid_ = pid;
  loop.report_ = std::move(r);
  return loop;
}

ConnectLoop::ConnectLoop(ConnectLoop&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), report_(std::move(o.report_)) {}

ConnectLoop::~ConnectLoop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

Result<ConnectLoopReport> ConnectLoop::join() {
  ConnectLoopReport r;
  ssize_t n = ::read(report_.get(), &r, sizeof(r));
  ::waitpid(std::exchange(pid_, -1), nullptr, 0);
  if (n != sizeof(r)) return makeError("connect loop process died");
  if (r.failures < 0) return errnoError("connect loop setup (cgroup/netns)", r.first_errno);
  return r;
}

SockAddr localAddr(int fd) { return addrOf(fd, false); }
SockAddr peerAddr(int fd) { return addrOf(fd, true); }

Result<PodClient> PodClient::start(const std::string& cgroup, int netns_fd,
                                   const ClientSpec& spec) {
  int report[2], hold[2];
  if (::pipe2(report, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd report_r(report[0]), report_w(report[1]);
  if (::pipe2(hold, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd hold_r(hold[0]), hold_w(hold[1]);
  pid_t pid = ::fork();
  if (pid < 0) return errnoError("fork");
  if (pid == 0) {
    hold_w.reset();
    childMain(cgroup, netns_fd, spec, report_w.get(), hold_r.get());
  }
  PodClient c;
  c.pid_ = pid;
  c.hold_ = std::move(hold_w);
  report_w.reset();
  WireReport w{};
  if (::read(report_r.get(), &w, sizeof(w)) != sizeof(w)) return makeError("client {} died", pid);
  if (w.setup_errno != 0) return errnoError("client setup (cgroup/netns/socket)", w.setup_errno);
  c.report_.connect_errno = w.connect_errno;
  if (auto a = SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&w.local), w.local_len)) {
    c.report_.local = *a;
  }
  if (w.peer_len != 0) {
    if (auto a = SockAddr::fromSockaddr(reinterpret_cast<sockaddr*>(&w.peer), w.peer_len)) {
      c.report_.peer = *a;
    }
  }
  return c;
}

PodClient::PodClient(PodClient&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)), hold_(std::move(o.hold_)), report_(o.report_) {}

PodClient::~PodClient() {
  hold_.reset();
  if (pid_ > 0) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

Result<UniqueFd> connectFrom(int netns_fd, const SockAddr& dst, std::optional<SockAddr> bind) {
  return inNetns(netns_fd, [&]() -> Result<UniqueFd> {
    ClientSpec spec{dst, false, bind, 0};
    auto fd = makeClientSocket(spec);
    AMBIT_TRY(fd);
    sockaddr_storage ss{};
    socklen_t len = dst.toSockaddr(&ss);
    int err = connectSocket(fd->get(), ss, len);
    if (err != 0) return errnoError(fmt::format("connect {}", dst.toString()), err);
    return std::move(*fd);
  });
}

}  // namespace ambit::bpf::testing
