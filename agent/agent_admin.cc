// The agent's /metrics and /config_dump (split from agent.cc to keep each file focused).
#include <google/protobuf/util/json_util.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>

#include <nlohmann/json.hpp>

#include "agent/agent_impl.h"

namespace ambit::agent {

void Agent::Impl::registerMetrics() {
  auto& r = *registry;
  health = std::make_unique<admin::HealthMetrics>(r);
  enrolled_gauge = &prometheus::BuildGauge()
                        .Name("ambit_agent_enrolled_pods")
                        .Help("Pods on this node currently enrolled in the mesh")
                        .Register(r)
                        .Add({});
  ztunnels_gauge = &prometheus::BuildGauge()
                        .Name("ambit_agent_connected_ztunnels")
                        .Help("ztunnels connected to the pod hand-off socket")
                        .Register(r)
                        .Add({});
  handoff_errors = &prometheus::BuildGauge()
                        .Name("ambit_agent_handoff_errors")
                        .Help("Pod hand-offs that failed (nack, timeout, send error) since start")
                        .Register(r)
                        .Add({});
  pod_errors = &prometheus::BuildGauge()
                    .Name("ambit_agent_pod_errors")
                    .Help("Pod enroll/de-enroll operations that failed since start")
                    .Register(r)
                    .Add({});
  config_rejects = &prometheus::BuildCounter()
                        .Name("ambit_agent_config_rejected_total")
                        .Help("Configuration changes rejected (the last good config stayed)")
                        .Register(r)
                        .Add({});
  map_entries = &prometheus::BuildGauge()
                     .Name("ambit_agent_bpf_map_entries")
                     .Help("Entries in the capture maps")
                     .Register(r);
  bpf_events = &prometheus::BuildGauge()
                    .Name("ambit_agent_bpf_events")
                    .Help("Capture program events since the maps were created")
                    .Register(r);
}

void Agent::Impl::updateGauges() {
  auto rs = reconciler->stats();
  enrolled_gauge->Set(static_cast<double>(rs.enrolled_pods));
  pod_errors->Set(static_cast<double>(rs.pod_errors));
  auto hs = handoff.stats();
  ztunnels_gauge->Set(static_cast<double>(hs.connected_ztunnels));
  handoff_errors->Set(static_cast<double>(hs.errors));
  health->handoffConnected(static_cast<double>(hs.connected_ztunnels));
  if (discovery_status) {
    auto d = discovery_status->get();
    health->xdsState(d.connected, d.terminations);
  }
  if (auto netns = datapath->enrolledNetns()) {
    map_entries->Add({{"map", AMBIT_MAP_NETNS}}).Set(static_cast<double>(netns->size()));
  }
  if (auto pods = datapath->inboundPods()) {
    map_entries->Add({{"map", "sk_lookup_links"}}).Set(static_cast<double>(pods->size()));
  }
  if (auto st = datapath->stats()) {
    static constexpr std::array<const char*, AMBIT_STAT_MAX> kNames = {
        "outbound_redirected", "outbound_passed", "orig_dst_recorded",
        "inbound_steered",     "inbound_passed",  "errors"};
    for (size_t i = 0; i < kNames.size(); ++i) {
      bpf_events->Add({{"event", kNames[i]}}).Set(static_cast<double>((*st)[i]));
    }
  }
}

std::string Agent::Impl::configDump() const {
  nlohmann::json j;
  j["node"] = options.node;
  j["config_dir"] = options.config_dir;
  j["cgroup"] = options.cgroup_path;
  j["pin_dir"] = options.pin_dir;
  j["config_version"] = config ? config->snapshot->version() : "";
  auto rs = reconciler->stats();
  j["problems"] = rs.last_problems;
  nlohmann::json pods = nlohmann::json::array();
  if (config) {
    for (const auto& [uid, pod] : config->plan.pods) {
      std::string w;
      (void)google::protobuf::util::MessageToJsonString(pod.workload, &w);
      pods.push_back(nlohmann::json::parse(w));
    }
  }
  j["enrolled_pods"] = pods;
  if (auto netns = datapath->enrolledNetns()) j["enrolled_netns_cookies"] = *netns;
  if (auto in = datapath->inboundPods()) j["inbound_pods"] = *in;
  auto hs = handoff.stats();
  j["handoff"] = {{"connected_ztunnels", hs.connected_ztunnels},
                  {"acked", hs.messages_acked},
                  {"errors", hs.errors}};
  if (ca) j["ca"] = {{"trust_domain", ca->trustDomain()}, {"root_pem", ca->rootPem()}};
  if (kube) j["kubernetes"] = nlohmann::json::parse(kube->describe());
  return j.dump(2);
}

}  // namespace ambit::agent
