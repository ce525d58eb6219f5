// `lab pod add|delete` (Kubernetes mode): the lab's kubelet for pods scheduled after `up`. Add
// follows the kubelet's order (Pod object, cgroup from its uid, app, status); delete the order of
// `kubectl delete pod` on a real node (Terminating, containers stopped, cgroup and netns gone,
// then the object).
#include <algorithm>

#include "cli/lab/intent.h"
#include "cli/lab/kube_lab.h"
#include "cli/lab/lab.h"
#include "cli/lab/network.h"
#include "common/cgroup.h"
#include "common/log.h"

namespace ambit::lab {
namespace {

struct OpenLab {
  UniqueFd lock;
  LabState state;
};

Result<OpenLab> openForChange(const LabOptions& options, const char* what) {
  std::string path = stateFilePath(options);
  auto lock = lockRunDir(std::filesystem::path(path).parent_path().string());
  AMBIT_TRY(lock);
  auto state = loadState(path);
  if (!state) {
    if (state.error().code == ENOENT) return makeError("no lab '{}' is up", options.name);
    return state.error();
  }
  if (!state->kubernetes) {
    return makeError("lab pod {} needs a Kubernetes-mode lab (lab up --kubernetes)", what);
  }
  return OpenLab{std::move(*lock), std::move(*state)};
}

void eraseValue(std::vector<std::string>& list, const std::string& value) {
  list.erase(std::remove(list.begin(), list.end(), value), list.end());
}

}  // namespace

Status labPodAdd(const LabOptions& options, const ExtraPod& pod) {
  auto lab = openForChange(options, "add");
  AMBIT_TRY(lab);
  LabState& state = lab->state;
  state.extra_pods.push_back(pod);
  auto t = topologyFromState(options, state);
  AMBIT_TRY(t);  // validates the pod (name, node) before anything is recorded
  Intent intent(state, t->state_file);
  AMBIT_TRY(intent.save());
  PodSpec& p = t->pods.back();
  auto mount = ensureCgroup2Mount();
  AMBIT_TRY(mount);
  AMBIT_TRY(
      ensurePod(*t, p, [&](const std::string& ns) { return intent.add(&LabState::netns, ns); }));
  auto kube = KubeLab::open(*t);
  AMBIT_TRY(kube);
  AMBIT_TRY((*kube)->createPod(p, intent));
  const NodeSpec* node = t->findNode(p.node);
  std::string container = podCgroup(*mount, *t, p);
  AMBIT_TRY(ensureCgroup(intent, std::filesystem::path(container).parent_path().string()));
  AMBIT_TRY(ensureCgroup(intent, container));
  AMBIT_TRY(startPodApp(*t, *mount, intent, p));
  AMBIT_TRY(waitPodAccepts(*t, p));
  logInfo("pod {}/{} (uid {}) runs on {}", p.namespace_name, p.name, p.uid, node->name);
  return (*kube)->reportPodRunning(*t, p);
}

Status labPodDelete(const LabOptions& options, const std::string& name) {
  auto lab = openForChange(options, "delete");
  AMBIT_TRY(lab);
  LabState& state = lab->state;
  auto extra = std::find_if(state.extra_pods.begin(), state.extra_pods.end(),
                            [&](const ExtraPod& e) { return e.name == name; });
  if (extra == state.extra_pods.end()) {
    return makeError("no pod '{}' added with `lab pod add` (the lab's own pods stay until down)",
                     name);
  }
  auto t = topologyFromState(options, state);
  AMBIT_TRY(t);
  const PodSpec* p = t->findPod(name);
  auto mount = ensureCgroup2Mount();
  AMBIT_TRY(mount);
  auto kube = KubeLab::open(*t);
  AMBIT_TRY(kube);
  Intent intent(state, t->state_file);
  auto stop = [&]() -> Status {
    if (ProcessRecord* r = state.findProcess("app", name)) {
      AMBIT_TRY(stopProcess({r->pid, r->start_time}, std::chrono::seconds(5)));
    }
    std::string container = podCgroup(*mount, *t, *p);
    std::string pod_cgroup = std::filesystem::path(container).parent_path().string();
    AMBIT_TRY(removeCgroup(container));
    AMBIT_TRY(removeCgroup(pod_cgroup));
    AMBIT_TRY(deleteNetns(p->netns));
    eraseValue(state.cgroups, container);
    eraseValue(state.cgroups, pod_cgroup);
    eraseValue(state.netns, p->netns);
    std::erase_if(state.processes,
                  [&](const ProcessRecord& r) { return r.kind == "app" && r.name == name; });
    return intent.save();
  };
  AMBIT_TRY((*kube)->deletePod(*p, stop));
  state.pod_uids.erase(name);
  state.extra_pods.erase(extra);
  return intent.save();
}

}  // namespace ambit::lab
