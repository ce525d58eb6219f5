#include "cli/lab/network.h"

#include <sys/statfs.h>

#include <filesystem>

#include "cli/lab/subprocess.h"
#include "common/netns.h"

namespace ambit::lab {
namespace {

constexpr long kNsfsMagic = 0x6e736673;

// Written from inside the lab namespace (never the host's).
Status setSysctls(const std::string& netns,
                  const std::vector<std::pair<std::string, std::string>>& kv) {
  auto fd = openNetns(netnsPath(netns));
  AMBIT_TRY(fd);
  for (const auto& [key, value] : kv) {
    Status st = writeSysctlInNetns(fd->get(), "net/" + key, value);
    if (!st) return st.error().context(fmt::format("netns {}", netns));
  }
  return Status::ok();
}

Status ensureNetns(const std::string& name, const NetnsRecorder& record) {
  AMBIT_TRY(record(name));
  if (!netnsExists(name)) {
    // A leftover plain file (a crash between creating and mounting it) blocks `ip netns add`.
    std::error_code ec;
    if (std::filesystem::exists(netnsPath(name), ec)) AMBIT_TRY(deleteNetns(name));
    AMBIT_TRY(ip("", {"netns", "add", name}));
  }
  AMBIT_TRY(ip(name, {"link", "set", "lo", "up"}));
  // Addresses are added with nodad too; this also covers link-local addresses.
  return setSysctls(name,
                    {{"ipv6/conf/all/accept_dad", "0"}, {"ipv6/conf/default/accept_dad", "0"}});
}

// A veth pair created with both ends directly in their namespaces: never in the root netns.
Status ensureVeth(const std::string& ns, const std::string& dev, const std::string& peer_ns,
                  const std::string& peer) {
  if (linkExists(ns, dev)) return Status::ok();
  return ip(ns, {"link", "add", dev, "type", "veth", "peer", "name", peer, "netns", peer_ns});
}

Status ensureBridge(const std::string& ns, const std::string& dev) {
  if (!linkExists(ns, dev)) AMBIT_TRY(ip(ns, {"link", "add", dev, "type", "bridge"}));
  return ip(ns, {"link", "set", dev, "up"});
}

Status addAddresses(const std::string& ns, const std::string& dev, const std::string& v4,
                    const std::string& v6) {
  AMBIT_TRY(ip(ns, {"addr", "replace", v4, "dev", dev}));
  AMBIT_TRY(ip(ns, {"-6", "addr", "replace", v6, "dev", dev, "nodad"}));
  return ip(ns, {"link", "set", dev, "up"});
}

}  // namespace

std::string netnsPath(const std::string& name) { return "/run/netns/" + name; }

bool netnsExists(const std::string& name) {
  struct statfs fs {};
  return ::statfs(netnsPath(name).c_str(), &fs) == 0 && fs.f_type == kNsfsMagic;
}

Status ensureUnderlay(const Topology& t, const NetnsRecorder& record) {
  AMBIT_TRY(ensureNetns(t.underlay_netns, record));
  return ensureBridge(t.underlay_netns, kUnderlayBridge);
}

Status ensureNode(const Topology& t, const NodeSpec& node, const NetnsRecorder& record) {
  AMBIT_TRY(ensureNetns(node.netns, record));
  AMBIT_TRY(setSysctls(node.netns, {{"ipv4/ip_forward", "1"}, {"ipv6/conf/all/forwarding", "1"}}));
  AMBIT_TRY(ensureVeth(node.netns, kUplink, t.underlay_netns, node.underlay_port));
  AMBIT_TRY(
      ip(t.underlay_netns, {"link", "set", node.underlay_port, "master", kUnderlayBridge, "up"}));
  AMBIT_TRY(
      addAddresses(node.netns, kUplink, node.underlay_ipv4 + "/24", node.underlay_ipv6 + "/64"));
  AMBIT_TRY(ensureBridge(node.netns, kNodeBridge));
  AMBIT_TRY(
      addAddresses(node.netns, kNodeBridge, node.gateway_v4 + "/24", node.gateway_v6 + "/64"));
  for (const auto& other : t.nodes) {
    if (other.name == node.name) continue;
    AMBIT_TRY(ip(node.netns, {"route", "replace", other.pod_cidr_v4, "via", other.underlay_ipv4,
                              "dev", kUplink}));
    AMBIT_TRY(ip(node.netns, {"-6", "route", "replace", other.pod_cidr_v6, "via",
                              other.underlay_ipv6, "dev", kUplink}));
  }
  return Status::ok();
}

Status ensurePod(const Topology& t, const PodSpec& pod, const NetnsRecorder& record) {
  const NodeSpec* node = t.findNode(pod.node);
  if (node == nullptr) return makeError("pod {}: unknown node {}", pod.name, pod.node);
  AMBIT_TRY(ensureNetns(pod.netns, record));
  AMBIT_TRY(ensureVeth(pod.netns, kPodInterface, node->netns, pod.node_port));
  AMBIT_TRY(ip(node->netns, {"link", "set", pod.node_port, "master", kNodeBridge, "up"}));
  AMBIT_TRY(addAddresses(pod.netns, kPodInterface, pod.ipv4 + "/24", pod.ipv6 + "/64"));
  AMBIT_TRY(ip(pod.netns,
               {"route", "replace", "default", "via", node->gateway_v4, "dev", kPodInterface}));
  return ip(pod.netns,
            {"-6", "route", "replace", "default", "via", node->gateway_v6, "dev", kPodInterface});
}

Status deleteNetns(const std::string& name) {
  std::error_code ec;
  if (!std::filesystem::exists(netnsPath(name), ec)) return Status::ok();
  return ip("", {"netns", "delete", name});
}

}  // namespace ambit::lab
