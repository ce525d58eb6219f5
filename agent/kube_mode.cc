#include "agent/kube_mode.h"

#include <nlohmann/json.hpp>

#include "agent/forwarding_signer.h"
#include "agent/kube_node_pods.h"
#include "agent/kube_pod_netns.h"
#include "agent/kubelet_cgroup.h"
#include "agent/pod_cgroup_watch.h"
#include "agent/pod_netns_finder.h"
#include "agent/redirection_annotator.h"
#include "common/async/spawn.h"
#include "common/discovery/channel.h"
#include "common/discovery/client.h"
#include "common/discovery/grpc_client_stream.h"
#include "common/discovery/mesh_source.h"
#include "common/discovery/relay.h"
#include "common/kube/api_client.h"
#include "common/log.h"

namespace ambit::agent {

struct KubeMode::Impl {
  std::unique_ptr<kube::ApiClient> api;
  std::unique_ptr<KubeletCgroups> cgroups;
  std::unique_ptr<ProcNetnsFinder> finder;
  std::unique_ptr<DatapathPodCgroupMarker> marker;
  std::unique_ptr<RedirectionAnnotator> annotator;
  std::unique_ptr<KubeNodePods> pods;
  std::unique_ptr<KubePodNetns> netns;
  std::unique_ptr<PodCgroupWatch> cgroup_watch;
  std::unique_ptr<config::ConfigSource> source;
  std::shared_ptr<const discovery::DiscoveryStatus> source_status;
  std::shared_ptr<identity::CertificateSigner> signer;
  std::unique_ptr<discovery::Relay> relay;
};

namespace {

discovery::MeshSourceOptions meshSource(const AgentOptions& o) {
  discovery::MeshSourceOptions m;
  m.discovery_address = o.discovery_address;
  m.control_ca = o.control_ca;
  m.token_file = o.token_file;
  m.node = o.node;
  m.trust_domain = o.trust_domain;
  m.snapshot_file = o.state_dir + "/mesh.snapshot";
  m.streams = discovery::grpcStreams();  // ambit-control over TLS
  return m;
}

Result<KubeletCgroups> kubeletCgroups(const AgentOptions& o) {
  auto driver = parseCgroupDriver(o.cgroup_driver);
  if (!driver) return driver.error().context("--cgroup-driver");
  KubeletCgroupOptions k;
  k.kubelet_root = o.kubelet_cgroup_root;
  k.driver = *driver;
  auto cg = KubeletCgroups::create(k);
  if (!cg) return cg.error().context("kubelet pod cgroups");
  return cg;
}

}  // namespace

Result<std::string> KubeMode::podCgroupRoot(const AgentOptions& options) {
  auto cg = kubeletCgroups(options);
  AMBIT_TRY(cg);
  return cg->root();
}

Result<std::unique_ptr<KubeMode>> KubeMode::start(boost::asio::io_context& io,
                                                  const AgentOptions& o,
                                                  bpf::CaptureDatapath& datapath,
                                                  prometheus::Registry& registry,
                                                  std::function<void()> on_pods_changed) {
  auto impl = std::make_unique<Impl>();
  auto rest = o.kubeconfig.empty() ? kube::inClusterConfig() : kube::loadKubeconfig(o.kubeconfig);
  if (!rest) return rest.error().context("Kubernetes API configuration");
  impl->api = std::make_unique<kube::ApiClient>(io.get_executor(),
                                                std::make_shared<kube::Credentials>(*rest));
  auto cg = kubeletCgroups(o);
  AMBIT_TRY(cg);
  impl->cgroups = std::make_unique<KubeletCgroups>(std::move(*cg));
  ProcNetnsFinderOptions finder;
  finder.proc_root = o.proc_root;
  impl->finder = std::make_unique<ProcNetnsFinder>(finder);
  impl->marker = std::make_unique<DatapathPodCgroupMarker>(datapath);
  impl->annotator = std::make_unique<RedirectionAnnotator>(*impl->api);
  auto* annotator = impl->annotator.get();
  Impl* self = impl.get();
  auto pod_changed = [self, cb = on_pods_changed](const std::string& uid) {
    if (!uid.empty() && !self->pods->pod(uid)) self->annotator->forget(uid);  // gone
    cb();
  };
  impl->pods = std::make_unique<KubeNodePods>(*impl->api, o.node, std::move(pod_changed));
  // A pod cgroup created: a pod still without an IP can be held now (pod_cgroup_watch.h).
  auto watch = PodCgroupWatch::start(
      io, [self] { return self->cgroups->podParentDirs(); }, std::move(on_pods_changed));
  if (!watch) return watch.error().context("pod cgroup watch");
  impl->cgroup_watch = std::move(*watch);
  impl->netns = std::make_unique<KubePodNetns>(
      *impl->pods, *impl->cgroups, *impl->finder, registry,
      [annotator](const std::string& uid, const std::string& ns, const std::string& name,
                  bool captured) { annotator->set(uid, ns, name, captured); },
      boottimeNow, impl->marker.get());
  spawn(io, impl->pods->run(), "node pod watch");

  auto mesh = meshSource(o);
  auto source = discovery::meshConfigSource(mesh);
  AMBIT_TRY(source);
  if (auto* d = dynamic_cast<discovery::DiscoverySource*>(source->get())) {
    impl->source_status = d->status();
  }
  impl->source = std::move(*source);
  auto ca = discovery::certificateClient(o.discovery_address, mesh);
  AMBIT_TRY(ca);
  impl->signer = std::make_shared<ForwardingSigner>(std::move(*ca));
  auto relay = discovery::Relay::start("unix:" + o.discoverySocket(), o.node);
  if (!relay) return relay.error().context("mesh relay for the ztunnel");
  impl->relay = std::move(*relay);
  logInfo("Kubernetes mode: mesh from {}, pods of node {} under {}, relay on {}",
          o.discovery_address, o.node, impl->cgroups->root(), impl->relay->address());
  return std::unique_ptr<KubeMode>(new KubeMode(std::move(impl)));
}

KubeMode::KubeMode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KubeMode::~KubeMode() { stop(); }

NetnsResolver& KubeMode::resolver() { return *impl_->netns; }
std::unique_ptr<config::ConfigSource> KubeMode::takeConfigSource() {
  return std::move(impl_->source);
}
std::shared_ptr<identity::CertificateSigner> KubeMode::signer() { return impl_->signer; }
void KubeMode::relay(const v1::MeshSnapshot& snapshot) { impl_->relay->push(snapshot); }
bool KubeMode::podsSynced() const { return impl_->pods->synced(); }

std::string KubeMode::describe() const {
  nlohmann::json j;
  j["pods_on_node"] = impl_->pods->pods().size();
  j["pods_synced"] = impl_->pods->synced();
  j["pod_cgroup_parents_watched"] = impl_->cgroup_watch->watched();
  if (impl_->source_status) {
    auto s = impl_->source_status->get();
    j["discovery"] = {{"connected", s.connected}, {"from_persisted", s.from_persisted},
                      {"server", s.server},       {"last_error", s.last_error},
                      {"streams", s.streams},     {"responses", s.responses},
                      {"nacks", s.nacks},         {"publishes", s.publishes}};
  }
  auto r = impl_->relay->stats();
  j["relay"] = {{"address", impl_->relay->address()},
                {"streams", r.streams_active},
                {"responses", r.responses}};
  return j.dump();
}

void KubeMode::stop() {
  impl_->cgroup_watch.reset();  // no reconcile from it after the agent stops
  if (impl_->pods) impl_->pods->stop();
  if (impl_->annotator) impl_->annotator->stop();
}

}  // namespace ambit::agent
