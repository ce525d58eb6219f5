#include "agent/pod_datapath.h"

#include "agent/inbound_routing.h"
#include "common/netns.h"

namespace ambit::agent {

Status DatapathPodCapture::enrollNetns(uint64_t netns_cookie, const bpf::NetnsConfig& config) {
  return datapath_.enrollNetns(netns_cookie, config);
}

Status DatapathPodCapture::unenrollNetns(uint64_t netns_cookie) {
  return datapath_.unenrollNetns(netns_cookie);
}

Result<std::vector<uint64_t>> DatapathPodCapture::enrolledNetns() const {
  return datapath_.enrolledNetns();
}

Status DatapathPodCapture::attachInbound(const std::string& pod_id, int netns_fd,
                                         const std::vector<bpf::IpAddr>& pod_ips,
                                         const bpf::PodConfig& config) {
  return datapath_.attachInbound(pod_id, netns_fd, pod_ips, config);
}

Status DatapathPodCapture::detachInbound(const std::string& pod_id) {
  return datapath_.detachInbound(pod_id);
}

Result<std::vector<std::string>> DatapathPodCapture::inboundPods() const {
  return datapath_.inboundPods();
}

Result<std::optional<UniqueFd>> AnnotationNetnsResolver::resolve(const EnrolledPod& pod) {
  auto fd = netns_.open(pod.netns_path);
  if (!fd) return fd.error();
  return std::optional<UniqueFd>(std::move(*fd));
}

Result<UniqueFd> HostPodNetns::open(const std::string& path) { return openNetns(path); }

Result<uint64_t> HostPodNetns::cookie(int netns_fd) { return netnsCookie(netns_fd); }

Status HostPodNetns::installReplyRouting(int netns_fd) { return installInboundRouting(netns_fd); }

Status HostPodNetns::removeReplyRouting(int netns_fd) { return removeInboundRouting(netns_fd); }

}  // namespace ambit::agent
