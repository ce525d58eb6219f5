// `lab down`: removes everything the intent log recorded, in reverse dependency order, and
// keeps going past failures so one stuck object does not strand the rest.
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "cli/lab/intent.h"
#include "cli/lab/lab.h"
#include "cli/lab/network.h"
#include "cli/lab/process.h"
#include "cli/lab/state.h"
#include "cli/lab/subprocess.h"
#include "cli/lab/supervisor.h"
#include "common/log.h"

namespace ambit::lab {
namespace fs = std::filesystem;
namespace {

bool cgroupEmpty(const std::string& dir) {
  std::ifstream in(dir + "/cgroup.procs");
  std::string line;
  return !in || !std::getline(in, line);
}

Status removePath(const std::string& path, bool recursive) {
  std::error_code ec;
  if (recursive) {
    fs::remove_all(path, ec);
  } else {
    fs::remove(path, ec);
  }
  if (ec) return makeError("remove {}: {}", path, ec.message());
  return Status::ok();
}

void collect(std::vector<std::string>& errors, const Status& s) {
  if (!s) errors.push_back(s.message());
}

std::vector<std::string> removeAll(const LabState& s) {
  std::vector<std::string> errors;
  // The supervisor first (it would restart what follows), daemons next (they may hold pod
  // netns), then apps. Each group is stopped in parallel so the grace periods overlap instead
  // of adding up.
  for (const char* kind : {kSupervisorKind, "daemon", "app"}) {
    std::vector<std::pair<const ProcessRecord*, std::future<Status>>> stops;
    for (const auto& p : s.processes) {
      if (p.kind != kind || p.pid == 0) continue;
      stops.emplace_back(&p, std::async(std::launch::async, [id = ProcessId{p.pid, p.start_time}] {
        return stopProcess(id, std::chrono::seconds(5));
      }));
    }
    for (auto& [p, f] : stops) {
      Status st = f.get();
      if (!st) errors.push_back(fmt::format("stop {} {}: {}", kind, p->name, st.message()));
    }
  }
  for (const auto& cmd : s.cleanup_commands) {
    if (auto out = runChecked(cmd); !out) errors.push_back(out.error().message);
  }
  for (auto it = s.cgroups.rbegin(); it != s.cgroups.rend(); ++it)
    collect(errors, removeCgroup(*it));
  for (auto it = s.netns.rbegin(); it != s.netns.rend(); ++it) collect(errors, deleteNetns(*it));
  for (const auto& f : s.files) collect(errors, removePath(f, false));
  return errors;
}

}  // namespace

// Processes left in a lab cgroup (e.g. a background command from `lab exec`) are ours by
// construction: cgroup.kill ends exactly those and nothing else on the host.
Status removeCgroup(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::ok();
  if (!cgroupEmpty(dir)) {
    std::ofstream kill(dir + "/cgroup.kill");
    kill << "1";
  }
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return Status::ok();
    if (errno != EBUSY) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return errnoError(fmt::format("remove cgroup {}", dir));
}

Status labDown(const LabOptions& options) {
  std::string state_file = stateFilePath(options);
  std::error_code ec;
  UniqueFd lock;
  if (std::string dir = fs::path(state_file).parent_path(); fs::is_directory(dir, ec)) {
    auto locked = lockRunDir(dir);
    AMBIT_TRY(locked);
    lock = std::move(*locked);
  }
  auto state = loadState(state_file);
  if (!state) {
    if (state.error().code != ENOENT) return state.error();
    logInfo("no lab '{}' (no {}): nothing to remove", options.name, state_file);
    return Status::ok();
  }
  std::vector<std::string> errors = removeAll(*state);
  if (!errors.empty()) {
    std::string all;
    for (const auto& e : errors) all += "\n  " + e;
    return makeError("lab down left {} object(s) behind (state kept in {}; run down again):{}",
                     errors.size(), state_file, all);
  }
  // Directories last, deepest first: the run dir holds the state file itself.
  std::vector<std::string> errors_dirs;
  Status st = removePath(state_file, false);
  collect(errors_dirs, st);
  for (auto it = state->dirs.rbegin(); it != state->dirs.rend(); ++it) {
    collect(errors_dirs, removePath(*it, true));
  }
  if (!errors_dirs.empty()) return makeError("lab down: {}", errors_dirs.front());
  return Status::ok();
}

}  // namespace ambit::lab
