#pragma once
// The ztunnel's seams onto the agent's capture data path (its pinned eBPF maps), one small
// interface per use so each component can be tested with a fake:
//   OriginalDstLookup   outbound: where a captured connection was going
//   InboundSteering     pod registry: which 15006 listener a pod IP's plaintext is steered to
//   InboundConnectGate  inbound: lets a source-preserving connect to the app pass sk_lookup
// CaptureMaps implements all three over bpf::CaptureClient.
//
// Thread: implementations are called on the data thread; CaptureMaps is thread-safe (as
// CaptureClient is). Lifetime: the ztunnel owns CaptureMaps for its whole life.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/bpf/addr.h"
#include "common/bpf/capture_client.h"
#include "common/status.h"

namespace ambit::ztunnel {

class OriginalDstLookup {
 public:
  virtual ~OriginalDstLookup() = default;
  // For a socket accepted on a pod's 15001: the destination the app dialled; nullopt when the
  // connection was not captured (e.g. a direct connect to 15001).
  virtual Result<std::optional<bpf::SockAddr>> originalDst(int accepted_fd) = 0;
};

class InboundSteering {
 public:
  virtual ~InboundSteering() = default;
  // Steers plaintext for pod_ip to listener_fd (the pod's 15006); replaces any previous one.
  virtual Status registerListener(const bpf::IpAddr& pod_ip, int listener_fd) = 0;
  virtual Status unregisterListener(const bpf::IpAddr& pod_ip) = 0;
};

class InboundConnectGate {
 public:
  virtual ~InboundConnectGate() = default;
  // Brackets a connect from `client` (the original client's address) to `pod` inside the
  // pod's netns, so the pod's sk_lookup lets that SYN reach the app instead of 15006.
  virtual Status allow(const bpf::SockAddr& client, const bpf::SockAddr& pod) = 0;
  virtual Status end(const bpf::SockAddr& client, const bpf::SockAddr& pod) = 0;
};

class CaptureMaps final : public OriginalDstLookup,
                          public InboundSteering,
                          public InboundConnectGate {
 public:
  // Opens the maps the agent pinned under pin_dir, waiting up to `wait` for them: on a fresh
  // node the ztunnel may start before the agent.
  static Result<std::unique_ptr<CaptureMaps>> open(const std::string& pin_dir,
                                                   std::chrono::milliseconds wait);

  Result<std::optional<bpf::SockAddr>> originalDst(int accepted_fd) override;
  Status registerListener(const bpf::IpAddr& pod_ip, int listener_fd) override;
  Status unregisterListener(const bpf::IpAddr& pod_ip) override;
  Status allow(const bpf::SockAddr& client, const bpf::SockAddr& pod) override;
  Status end(const bpf::SockAddr& client, const bpf::SockAddr& pod) override;

 private:
  explicit CaptureMaps(bpf::CaptureClient client) : client_(std::move(client)) {}
  bpf::CaptureClient client_;
};

}  // namespace ambit::ztunnel
