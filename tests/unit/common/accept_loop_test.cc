// Accept loops at the file-descriptor limit: AcceptBackoff's pauses (100 ms doubling to 1 s,
// none for one connection's error), its rate-limited log, and acceptUntilClosed() against a
// real listener in a process whose RLIMIT_NOFILE is used up: it pauses instead of spinning
// (counted in accept attempts) and accepts the waiting connection once fds are free again.
#include "common/async/accept_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <vector>

#include "common/async/spawn.h"
#include "common/unique_fd.h"
#include "tests/support/log_capture.h"
#include "tests/support/text.h"

namespace ambit {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using test::LogCapture;

boost::system::error_code sysError(int e) { return {e, boost::system::system_category()}; }

TEST(AcceptBackoff, ResourceErrorsPauseDoublingUpToOneSecond) {
  int exhausted = 0;
  AcceptBackoff backoff("test listener", [&] { ++exhausted; });
  std::vector<long> delays;
  for (int i = 0; i < 6; ++i) delays.push_back(backoff.failed(sysError(EMFILE)).count());
  EXPECT_EQ(delays, (std::vector<long>{100, 200, 400, 800, 1000, 1000}));
  EXPECT_EQ(backoff.failed(sysError(ENFILE)).count(), 1000);
  EXPECT_EQ(exhausted, 7);
  EXPECT_EQ(backoff.exhaustedFailures(), 7u);
  backoff.succeeded();
  EXPECT_EQ(backoff.failed(sysError(EMFILE)).count(), 100) << "a success resets the pause";
}

TEST(AcceptBackoff, OneConnectionsErrorIsRetriedAtOnceAndOtherErrorsPause) {
  int exhausted = 0;
  AcceptBackoff backoff("test listener", [&] { ++exhausted; });
  EXPECT_EQ(backoff.failed(sysError(ECONNABORTED)).count(), 0);
  EXPECT_EQ(backoff.failed(sysError(EPROTO)).count(), 0);
  EXPECT_EQ(backoff.failed(sysError(EINVAL)).count(), 100) << "an unknown error must not spin";
  EXPECT_EQ(exhausted, 0);
  EXPECT_EQ(backoff.failures(), 3u);
}

TEST(AcceptBackoff, LogsOneLinePerIntervalAndOneOnRecovery) {
  LogCapture log;
  auto now = std::chrono::steady_clock::time_point{} + 1h;
  AcceptBackoff backoff("pod a outbound", {}, [&] { return now; });
  for (int i = 0; i < 50; ++i) {
    (void)backoff.failed(sysError(EMFILE));
    now += 100ms;  // 50 failures within 5 s: one line
  }
  EXPECT_EQ(test::occurrences(log.text(), "pod a outbound: accept:"), 1u) << log.text();
  EXPECT_NE(log.text().find("RLIMIT_NOFILE"), std::string::npos) << log.text();
  now += AcceptBackoff::kLogInterval;
  (void)backoff.failed(sysError(EMFILE));
  EXPECT_EQ(test::occurrences(log.text(), "pod a outbound: accept:"), 2u) << log.text();
  EXPECT_NE(log.text().find("(49 more failures since the last line)"), std::string::npos)
      << log.text();
  backoff.succeeded();
  EXPECT_NE(log.text().find("pod a outbound: accepting again after 51 failed accepts"),
            std::string::npos)
      << log.text();
}

// Lowers this process's RLIMIT_NOFILE to just above the fds in use and takes every fd left:
// the next accept() fails with EMFILE. Restores both on destruction.
class FdsUsedUp {
 public:
  FdsUsedUp() {
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_), 0);
    UniqueFd probe(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    rlimit lowered = saved_;
    lowered.rlim_cur = static_cast<rlim_t>(probe.get()) + 16;
    EXPECT_EQ(::setrlimit(RLIMIT_NOFILE, &lowered), 0);
    for (;;) {
      UniqueFd fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
      if (!fd) {
        EXPECT_EQ(errno, EMFILE);
        break;
      }
      held_.push_back(std::move(fd));
    }
    held_.push_back(std::move(probe));
  }
  ~FdsUsedUp() {
    held_.clear();
    ::setrlimit(RLIMIT_NOFILE, &saved_);
  }
  void freeSome() { held_.resize(held_.size() - 4); }

 private:
  rlimit saved_{};
  std::vector<UniqueFd> held_;
};

TEST(AcceptUntilClosed, AtTheFdLimitPausesInsteadOfSpinningAndRecovers) {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(io);
  client.open(tcp::v4());  // its fd exists before the limit is reached
  int exhausted_metric = 0;
  AcceptBackoff backoff("test listener", [&] { ++exhausted_metric; });
  int accepted = 0;
  const AcceptHandler count = [&](tcp::socket) { ++accepted; };
  {
    FdsUsedUp no_fds;
    client.connect(acceptor.local_endpoint());  // completes in the listen backlog
    spawn(io, acceptUntilClosed(acceptor, backoff, count), "test accept loop");
    io.run_for(1500ms);
    EXPECT_EQ(accepted, 0);
    EXPECT_GE(backoff.exhaustedFailures(), 2u) << "accept() did not hit the fd limit";
    EXPECT_EQ(backoff.exhaustedFailures(), static_cast<uint64_t>(exhausted_metric));
    // Pauses of 100, 200, 400, 800 ms: at most 5 attempts in 1.5 s (a spinning loop makes
    // thousands).
    EXPECT_LE(backoff.failures(), 6u) << "the accept loop spins at the fd limit";
    no_fds.freeSome();
    for (int i = 0; i < 30 && accepted == 0; ++i) io.run_for(100ms);
    EXPECT_EQ(accepted, 1) << "the waiting connection was not accepted once fds were free";
  }
  acceptor.close();
  io.run_for(100ms);
}

}  // namespace
}  // namespace ambit
