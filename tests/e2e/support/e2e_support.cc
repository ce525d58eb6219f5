#include "tests/e2e/support/e2e_support.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ambit::e2e {

namespace {

// Reads both pipes until EOF or the deadline.
void drain(int out_fd, int err_fd, CommandOutput& r, std::chrono::steady_clock::time_point deadline,
           pid_t pid) {
  std::vector<pollfd> fds{{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
  char buf[65536];
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      ::kill(pid, SIGKILL);
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n <= 0) {
        fds[i].fd = -1;
        continue;
      }
      (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(n));
    }
  }
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

CommandOutput run(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandOutput r;
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return r;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    int devnull = ::open("/dev/null", O_RDONLY);
    ::dup2(devnull, 0);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  drain(out[0], err[0], r, std::chrono::steady_clock::now() + timeout, pid);
  ::close(out[0]);
  ::close(err[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

CommandOutput sh(const std::string& script, std::chrono::milliseconds timeout) {
  return run({"/bin/sh", "-c", script}, timeout);
}

std::string binary(const std::string& name) {
  return std::string(AMBIT_BINARY_DIR) + "/bin/" + name;
}

bool eventually(const std::function<bool()>& fn, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (fn()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

CommandOutput Lab::ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{binary("ambitctl"), "lab"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--name");
  argv.push_back(name_);
  return run(argv, std::chrono::seconds(120));
}

void Lab::up(const std::vector<std::string>& extra_args) {
  std::vector<std::string> args{"up"};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  auto r = ctl(args);
  ASSERT_EQ(r.exit_code, 0) << "lab up failed:\n" << r.out << r.err;
  // Ready = every node's ztunnel reports ready (hand-off synced, config loaded).
  nlohmann::json st = status();  // keep the document alive for the loop
  for (const auto& node : st["nodes"]) {
    std::string n = node["name"];
    bool ready = eventually(
        [&] {
          return inNode(n, {"curl", "-sf", "-m", "1", "http://127.0.0.1:15021/healthz/ready"})
                     .exit_code == 0;
        },
        std::chrono::seconds(30));
    ASSERT_TRUE(ready) << "ztunnel on " << n << " never became ready:\n" << daemonLog(n, "ztunnel");
  }
}

void Lab::down() {
  auto r = ctl({"down"});
  EXPECT_EQ(r.exit_code, 0) << "lab down failed:\n" << r.out << r.err;
}

nlohmann::json Lab::status() {
  auto r = ctl({"status", "-o", "json"});
  if (r.exit_code != 0) return nlohmann::json::object();
  return nlohmann::json::parse(r.out, nullptr, false);
}

std::string Lab::podIp(const std::string& pod, bool v6) {
  nlohmann::json st = status();
  for (const auto& p : st["pods"]) {
    if (p["name"] == pod) return p[v6 ? "ipv6" : "ipv4"];
  }
  ADD_FAILURE() << "no pod " << pod << " in lab " << name_;
  return "";
}

std::string Lab::configDir() { return status()["config_dir"]; }
std::string Lab::runDir() { return status()["run_dir"]; }

CommandOutput Lab::exec(const std::string& pod, const std::vector<std::string>& argv,
                        std::chrono::milliseconds timeout) {
  std::vector<std::string> a{binary("ambitctl"), "lab", "exec", "--name", name_, pod, "--"};
  a.insert(a.end(), argv.begin(), argv.end());
  return run(a, timeout);
}

void Lab::writeConfig(const std::string& file, const std::string& yaml) {
  std::string dir = configDir();
  std::string tmp = dir + "/." + file + ".tmp";
  {
    std::ofstream out(tmp);
    out << yaml;
  }
  std::filesystem::rename(tmp, dir + "/" + file);
}

void Lab::removeConfig(const std::string& file) {
  std::filesystem::remove(configDir() + "/" + file);
}

int Lab::daemonPid(const std::string& node, const std::string& daemon) {
  nlohmann::json st = status();
  for (const auto& d : st["daemons"]) {
    if (d["node"] == node && d["name"] == daemon) return d["pid"];
  }
  ADD_FAILURE() << "no daemon " << node << "/" << daemon;
  return -1;
}

std::vector<std::string> Lab::daemonArgv(const std::string& node, const std::string& daemon) {
  std::string raw = readFile("/proc/" + std::to_string(daemonPid(node, daemon)) + "/cmdline");
  std::vector<std::string> argv;
  std::string cur;
  for (char c : raw) {
    if (c == '\0') {
      argv.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  return argv;
}

std::string Lab::podLog(const std::string& pod) {
  return readFile(runDir() + "/logs/" + pod + ".log");
}

bool Lab::waitWaypointReady(std::chrono::seconds timeout) {
  return eventually(
      [&] {
        return exec("waypoint", {"curl", "-sf", "-m", "1", "http://127.0.0.1:15021/healthz/ready"})
                   .exit_code == 0;
      },
      timeout);
}

std::string Lab::daemonLog(const std::string& node, const std::string& daemon) {
  return readFile(runDir() + "/logs/" + node + "-" + daemon + ".log");
}

CommandOutput Lab::inNode(const std::string& node, const std::vector<std::string>& argv) {
  std::vector<std::string> a{"ip", "netns", "exec", name_ + "-" + node};
  a.insert(a.end(), argv.begin(), argv.end());
  return run(a);
}

std::string Lab::nodeHttpGet(const std::string& node, const std::string& url) {
  return inNode(node, {"curl", "-sS", "-m", "5", url}).out;
}

}  // namespace ambit::e2e
