#include "tests/support/subprocess.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/post.hpp>

#include "tests/support/files.h"
#include "tests/support/peer.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace ambit::test {
namespace {

using namespace std::chrono_literals;

TEST(Run, CapturesStdoutStderrAndExitCode) {
  CommandOutput r = sh("echo out; echo err >&2; exit 3");
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.timed_out);
}

TEST(Run, MergesStderrIntoStdoutInOrder) {
  CommandOutput r = sh("echo one; echo two >&2; echo three", 60s, /*merge_stderr=*/true);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "one\ntwo\nthree\n");
  EXPECT_EQ(r.err, "");
}

TEST(Run, PassesArgvVerbatimAndExtraEnvironment) {
  CommandOutput r = run(Command{.argv = {"/bin/sh", "-c", "printf '%s|%s' \"$1\" \"$AMBIT_X\"",
                                         "sh", "two words; $(not expanded)"},
                                .env = {"AMBIT_X=set by the test"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "two words; $(not expanded)|set by the test");
}

TEST(Run, KillsAtTheDeadline) {
  CommandOutput r = sh("echo started; exec sleep 60", 300ms);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.exit_code, 128 + SIGKILL);
  EXPECT_EQ(r.out, "started\n");
}

TEST(Run, MissingProgramExits127AndMissingNetnsDoesNotStart) {
  EXPECT_EQ(run({"/nonexistent/ambit-no-such-program"}).exit_code, 127);
  CommandOutput r = run(Command{.argv = {"true"}, .netns = "/nonexistent/netns"});
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_NE(r.err.find("/nonexistent/netns"), std::string::npos) << r.err;
}

TEST(Run, EntersTheGivenNetworkNamespace) {
  // This process's own namespace, named by path: the child runs and sees the same one.
  CommandOutput r =
      run(Command{.argv = {"readlink", "/proc/self/ns/net"}, .netns = "/proc/self/ns/net"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, sh("readlink /proc/self/ns/net").out);
}

TEST(Subprocess, ReadsLinesWhileRunningAndStopsByPidOnDestruction) {
  pid_t pid = -1;
  {
    Subprocess p;
    ASSERT_TRUE(
        p.start(Command{.argv = {"/bin/sh", "-c", "echo 4242; echo ready >&2; exec sleep 60"}}));
    pid = p.pid();
    EXPECT_EQ(p.readLine(Subprocess::Stream::kOut, 10s), "4242");
    EXPECT_EQ(p.readLine(Subprocess::Stream::kErr, 10s), "ready");
    EXPECT_TRUE(p.running());
    EXPECT_FALSE(processGone(pid));
    // The shell wrote both lines before it exec'd sleep: wait for the exec.
    EXPECT_TRUE(eventually([&] {
      return processArgv(pid) == std::vector<std::string>{"sleep", "60"};
    })) << "argv of "
        << pid;
  }
  EXPECT_TRUE(processGone(pid));
}

TEST(Subprocess, SignalsAndReportsHowItEnded) {
  Subprocess p;
  ASSERT_TRUE(p.start(Command{.argv = {"sleep", "60"}}));
  p.signal(SIGTERM);
  EXPECT_EQ(p.waitExit(10s), 128 + SIGTERM);
  EXPECT_FALSE(p.running());

  ASSERT_TRUE(p.start(Command{.argv = {"/bin/sh", "-c", "exit 5"}}));
  EXPECT_EQ(p.waitExit(10s), 5);
}

TEST(Subprocess, StopEscalatesToSigkillWhenSigtermIsIgnored) {
  Subprocess p;
  ASSERT_TRUE(p.start(
      Command{.argv = {"/bin/sh", "-c", "trap '' TERM; echo armed; while :; do sleep 1; done"}}));
  ASSERT_EQ(p.readLine(Subprocess::Stream::kOut, 10s), "armed");
  p.stop(100ms);
  EXPECT_FALSE(p.running());
  EXPECT_EQ(p.waitExit(0ms), 128 + SIGKILL);
}

TEST(Subprocess, LogFileGetsStdoutAndStderr) {
  const std::string log = ::testing::TempDir() + "/ambit-subprocess-test.log";
  std::remove(log.c_str());
  Subprocess p;
  ASSERT_TRUE(p.start(Command{.argv = {"/bin/sh", "-c", "echo a; echo b >&2"}, .log_file = log}));
  EXPECT_EQ(p.waitExit(10s), 0);
  EXPECT_EQ(sh("cat " + log).out, "a\nb\n");
  std::remove(log.c_str());
}

TEST(RunPeer, ServesTheIoContextWhileThePeerRuns) {
  // The peer waits for a file only a handler on the io_context writes: it finishes only if
  // runPeer kept running handlers on this thread.
  TempDir dir;
  boost::asio::io_context ioc;
  boost::asio::post(ioc, [&] { writeFile(dir.file("served"), "by the io_context\n"); });
  CommandOutput r = runPeer(ioc,
                            "while [ ! -s " + dir.file("served") + " ]; do sleep 0.01; done; cat " +
                                dir.file("served") + " >&2",
                            30s);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, "by the io_context\n");
}

}  // namespace
}  // namespace ambit::test
