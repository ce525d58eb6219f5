#include "cli/lab/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>

#include "common/unique_fd.h"

extern char** environ;

namespace ambit::lab {
namespace {

std::string joinArgs(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

// Reads both pipes until EOF on each, so neither child stream can block on a full pipe.
void drain(UniqueFd& out_fd, UniqueFd& err_fd, std::string& out, std::string& err) {
  std::array<char, 4096> buf;
  while (out_fd || err_fd) {
    std::array<pollfd, 2> p{pollfd{out_fd.get(), POLLIN, 0}, pollfd{err_fd.get(), POLLIN, 0}};
    if (::poll(p.data(), p.size(), -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < 2; ++i) {
      UniqueFd& fd = i == 0 ? out_fd : err_fd;
      if (!fd || p[i].revents == 0) continue;
      ssize_t n = ::read(fd.get(), buf.data(), buf.size());
      if (n > 0) {
        (i == 0 ? out : err).append(buf.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fd.reset();
      }
    }
  }
}

}  // namespace

Result<CommandResult> runCommand(const std::vector<std::string>& argv) {
  if (argv.empty()) return makeError("runCommand: empty command");
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return errnoError("pipe");
  UniqueFd err_r(err_pipe[0]), err_w(err_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_w.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, err_w.get(), 2);
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawnp(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return errnoError(fmt::format("start `{}`", joinArgs(argv)), rc);
  out_w.reset();
  err_w.reset();

  CommandResult result;
  drain(out_r, err_r, result.out, result.err);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return errnoError(fmt::format("wait for `{}`", joinArgs(argv)));
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

Result<std::string> runChecked(const std::vector<std::string>& argv) {
  auto r = runCommand(argv);
  AMBIT_TRY(r);
  if (r->exit_code != 0) {
    std::string err = r->err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return makeError("`{}` exited with {}: {}", joinArgs(argv), r->exit_code,
                     err.empty() ? "(no stderr)" : err);
  }
  return std::move(r->out);
}

Status ip(const std::string& netns, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"ip"};
  if (!netns.empty()) {
    argv.push_back("-n");
    argv.push_back(netns);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  return runChecked(argv).status();
}

bool linkExists(const std::string& netns, const std::string& dev) {
  auto r = runCommand({"ip", "-n", netns, "link", "show", "dev", dev});
  return r && r->exit_code == 0;
}

}  // namespace ambit::lab
