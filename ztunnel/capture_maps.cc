#include "ztunnel/capture_maps.h"

#include <thread>

#include "common/log.h"

namespace ambit::ztunnel {

Result<std::unique_ptr<CaptureMaps>> CaptureMaps::open(const std::string& pin_dir,
                                                       std::chrono::milliseconds wait) {
  constexpr auto kPoll = std::chrono::milliseconds(100);
  auto cap = bpf::CaptureClient::open(pin_dir);
  for (auto waited = std::chrono::milliseconds(0); !cap && waited < wait; waited += kPoll) {
    if (waited.count() == 0)
      logInfo("waiting for the agent's capture maps: {}", cap.error().message);
    std::this_thread::sleep_for(kPoll);
    cap = bpf::CaptureClient::open(pin_dir);
  }
  if (!cap) return cap.error().context("capture maps (is the agent running?)");
  return std::unique_ptr<CaptureMaps>(new CaptureMaps(std::move(*cap)));
}

Result<std::optional<bpf::SockAddr>> CaptureMaps::originalDst(int accepted_fd) {
  return client_.lookupOriginalDst(accepted_fd);
}

Status CaptureMaps::registerListener(const bpf::IpAddr& pod_ip, int listener_fd) {
  return client_.registerInboundListener(pod_ip, listener_fd);
}

Status CaptureMaps::unregisterListener(const bpf::IpAddr& pod_ip) {
  return client_.unregisterInboundListener(pod_ip);
}

Status CaptureMaps::allow(const bpf::SockAddr& client, const bpf::SockAddr& pod) {
  return client_.allowInboundConnect(client, pod);
}

Status CaptureMaps::end(const bpf::SockAddr& client, const bpf::SockAddr& pod) {
  return client_.endInboundConnect(client, pod);
}

}  // namespace ambit::ztunnel
