#pragma once
// The ztunnel's view of the capture data path: read the original destination of a captured
// connection and register its per-pod 15006 listeners. Opens only pinned maps (no programs),
// so it works while the agent restarts. Thread-safe after open().

#include <optional>
#include <string>

#include "common/bpf/addr.h"
#include "common/bpf/maps.h"
#include "common/status.h"

namespace ambit::bpf {

class CaptureClient {
 public:
  // pin_dir: the node's pin dir (e.g. /sys/fs/bpf/ambit/<node>), created by the agent.
  static Result<CaptureClient> open(const std::string& pin_dir);

  // For a socket accepted on a 15001 listener inside a pod netns: where the app wanted to go.
  // nullopt when the connection was not captured (e.g. a direct connect to 15001).
  Result<std::optional<SockAddr>> lookupOriginalDst(int accepted_fd) const;

  // Steers inbound plaintext for pod_ip to listener_fd (a TCP listener on 15006 in the pod's
  // netns). Replaces any previous listener for that IP.
  Status registerInboundListener(const IpAddr& pod_ip, int listener_fd) const;
  Status unregisterInboundListener(const IpAddr& pod_ip) const;

  // Brackets a source-preserving connect from `client` (the original client's IP, bound with
  // IP_TRANSPARENT) to `pod` inside the pod's netns, so sk_lookup lets that SYN through.
  Status allowInboundConnect(const SockAddr& client, const SockAddr& pod) const {
    return pending_.put(client, pod);
  }
  Status endInboundConnect(const SockAddr& client, const SockAddr& pod) const {
    return pending_.remove(client, pod);
  }

 private:
  CaptureClient(OrigDstMap orig_dst, InboundListenerMap listeners, InboundPendingMap pending)
      : orig_dst_(std::move(orig_dst)),
        listeners_(std::move(listeners)),
        pending_(std::move(pending)) {}

  OrigDstMap orig_dst_;
  InboundListenerMap listeners_;
  InboundPendingMap pending_;
};

// The netns cookie of the namespace a socket lives in (SO_NETNS_COOKIE).
Result<uint64_t> socketNetnsCookie(int fd);

// The original destination recorded for `accepted_fd`, looked up in `map`.
Result<std::optional<SockAddr>> lookupOriginalDst(const OrigDstMap& map, int accepted_fd);

}  // namespace ambit::bpf
