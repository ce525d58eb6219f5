#include "cli/lab/state.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"

namespace ambit::lab {

bool LabState::addUnique(std::vector<std::string>& list, const std::string& v) {
  if (std::find(list.begin(), list.end(), v) != list.end()) return false;
  list.push_back(v);
  return true;
}

ProcessRecord* LabState::findProcess(const std::string& kind, const std::string& name) {
  for (auto& p : processes) {
    if (p.kind == kind && p.name == name) return &p;
  }
  return nullptr;
}

nlohmann::json toJson(const LabState& s) {
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : s.processes) {
    procs.push_back({{"kind", p.kind},
                     {"name", p.name},
                     {"pid", p.pid},
                     {"start_time", p.start_time},
                     {"log_file", p.log_file},
                     {"argv", p.argv},
                     {"netns_path", p.netns_path},
                     {"cgroup_dir", p.cgroup_dir},
                     {"restarts", p.restarts}});
  }
  nlohmann::json extra = nlohmann::json::array();
  for (const auto& e : s.extra_pods) {
    extra.push_back({{"name", e.name},
                     {"node", e.node},
                     {"namespace", e.namespace_name},
                     {"service_account", e.service_account},
                     {"labels", e.labels}});
  }
  return {{"version", s.version},
          {"lab", s.lab},
          {"phase", s.phase},
          {"nodes", s.nodes},
          {"run_dir", s.run_dir},
          {"config_dir", s.config_dir},
          {"bin_dir", s.bin_dir},
          {"netns", s.netns},
          {"cgroups", s.cgroups},
          {"dirs", s.dirs},
          {"files", s.files},
          {"processes", procs},
          {"cleanup_commands", s.cleanup_commands},
          {"waypoint", s.waypoint},
          {"kubernetes", s.kubernetes},
          {"kubeconfig", s.kubeconfig},
          {"pod_uids", s.pod_uids},
          {"extra_pods", extra}};
}

Result<LabState> stateFromJson(const nlohmann::json& j) {
  try {
    LabState s;
    s.version = j.at("version").get<int>();
    if (s.version != 1) return makeError("unsupported lab state version {}", s.version);
    s.lab = j.at("lab").get<std::string>();
    s.phase = j.at("phase").get<std::string>();
    s.nodes = j.at("nodes").get<int>();
    s.waypoint = j.value("waypoint", false);
    s.kubernetes = j.value("kubernetes", false);
    s.kubeconfig = j.value("kubeconfig", std::string());
    for (const auto& e : j.value("extra_pods", nlohmann::json::array())) {
      s.extra_pods.push_back(
          ExtraPod{.name = e.at("name").get<std::string>(),
                   .node = e.at("node").get<std::string>(),
                   .namespace_name = e.at("namespace").get<std::string>(),
                   .service_account = e.at("service_account").get<std::string>(),
                   .labels = e.at("labels").get<std::map<std::string, std::string>>()});
    }
    if (j.contains("pod_uids")) {
      s.pod_uids = j.at("pod_uids").get<std::map<std::string, std::string>>();
    }
    s.run_dir = j.at("run_dir").get<std::string>();
    s.config_dir = j.at("config_dir").get<std::string>();
    s.bin_dir = j.at("bin_dir").get<std::string>();
    s.netns = j.at("netns").get<std::vector<std::string>>();
    s.cgroups = j.at("cgroups").get<std::vector<std::string>>();
    s.dirs = j.at("dirs").get<std::vector<std::string>>();
    s.files = j.at("files").get<std::vector<std::string>>();
    if (j.contains("cleanup_commands")) {
      s.cleanup_commands = j.at("cleanup_commands").get<std::vector<std::vector<std::string>>>();
    }
    for (const auto& p : j.at("processes")) {
      s.processes.push_back(ProcessRecord{
          p.at("kind").get<std::string>(), p.at("name").get<std::string>(), p.at("pid").get<int>(),
          p.at("start_time").get<uint64_t>(), p.at("log_file").get<std::string>(),
          p.value("argv", std::vector<std::string>()), p.value("netns_path", std::string()),
          p.value("cgroup_dir", std::string()), p.value("restarts", 0)});
    }
    return s;
  } catch (const nlohmann::json::exception& e) {
    return makeError("malformed lab state: {}", e.what());
  }
}

Result<LabState> loadState(const std::string& path) {
  std::ifstream in(path);
  if (!in) return errnoError(fmt::format("open lab state {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return makeError("lab state {} is not valid JSON", path);
  auto s = stateFromJson(j);
  if (!s) return s.error().context(path);
  return s;
}

Status saveState(const std::string& path, const LabState& s) {
  return writeFileAtomic(path, toJson(s).dump(2) + "\n");
}

Result<UniqueFd> lockRunDir(const std::string& run_dir, std::chrono::milliseconds wait) {
  UniqueFd fd(::open(run_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) return errnoError(fmt::format("open {}", run_dir));
  if (wait == kWaitForever) {
    while (::flock(fd.get(), LOCK_EX) != 0) {
      if (errno != EINTR) return errnoError(fmt::format("lock {}", run_dir));
    }
    return fd;
  }
  auto deadline = std::chrono::steady_clock::now() + wait;
  while (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    if (errno == EWOULDBLOCK) {
      return makeError("another `ambitctl lab up` or `down` is working on {}; wait for it",
                       run_dir);
    }
    return errnoError(fmt::format("lock {}", run_dir));
  }
  return fd;
}

Status writeFileAtomic(const std::string& path, const std::string& content) {
  std::string tmp = path + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd) return errnoError(fmt::format("create {}", tmp));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errnoError(fmt::format("write {}", tmp));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return errnoError(fmt::format("fsync {}", tmp));
  fd.reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return errnoError(fmt::format("rename to {}", path));
  return Status::ok();
}

}  // namespace ambit::lab
