#pragma once
// Fakes of the ztunnel's seams (capture maps, pod sockets, tunnel dialer) for unit tests:
// everything runs in the test's own network namespace on loopback, without root.

#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/bpf/addr.h"
#include "ztunnel/capture_maps.h"
#include "ztunnel/socket_util.h"
#include "ztunnel/tunnel_dialer.h"

namespace ambit::ztunnel::testing {

// Answers every lookup with `answer` (the original destination the "kernel" recorded).
class FakeOriginalDst final : public OriginalDstLookup {
 public:
  Result<std::optional<bpf::SockAddr>> answer = std::optional<bpf::SockAddr>{};
  int lookups = 0;

  Result<std::optional<bpf::SockAddr>> originalDst(int) override {
    ++lookups;
    return answer;
  }
};

// Plain sockets in the test's netns. A listener asked for any address and port is bound to the
// loopback of that family on an ephemeral port instead; `bound` maps what was asked (port) to
// where it really listens.
class LoopbackSockets final : public PodSocketFactory {
 public:
  int sockets_made = 0;
  std::vector<boost::asio::ip::tcp::endpoint> requested;  // listener() calls, in order
  std::multimap<uint16_t, boost::asio::ip::tcp::endpoint> bound;

  Result<UniqueFd> socket(int netns_fd, int family) override;
  Result<UniqueFd> listener(int netns_fd, const boost::asio::ip::tcp::endpoint& endpoint,
                            bool v6_only) override;
  // Fails with `migration_error` when set (a netns whose tcp_migrate_req cannot be written).
  Status enableListenerMigration(int) override {
    ++migrations_enabled;
    if (!migration_error.empty()) return makeError("{}", migration_error);
    return Status::ok();
  }
  int migrations_enabled = 0;
  std::string migration_error;
  // listeners(): the inodes of the listeners this factory made for that port, plus `others`
  // (another ztunnel's, as the test places them); fails with `listeners_error` when set.
  Result<std::vector<uint64_t>> listeners(int,
                                          const boost::asio::ip::tcp::endpoint& endpoint) override;
  std::multimap<uint16_t, uint64_t> inodes;  // asked port -> inode of the socket made for it
  std::multimap<uint16_t, uint64_t> others;
  std::string listeners_error;
  // Where the listener asked for `address`:`port` really listens.
  boost::asio::ip::tcp::endpoint where(const std::string& address, uint16_t port) const;
};

class RecordingSteering final : public InboundSteering {
 public:
  std::map<std::string, int> listeners;  // pod IP -> listener fd
  Status registerListener(const bpf::IpAddr& pod_ip, int listener_fd) override {
    listeners[pod_ip.toString()] = listener_fd;
    return Status::ok();
  }
  Status unregisterListener(const bpf::IpAddr& pod_ip) override {
    listeners.erase(pod_ip.toString());
    return Status::ok();
  }
};

class RecordingGate final : public InboundConnectGate {
 public:
  int allowed = 0;
  int ended = 0;
  Status allow(const bpf::SockAddr&, const bpf::SockAddr&) override {
    ++allowed;
    return Status::ok();
  }
  Status end(const bpf::SockAddr&, const bpf::SockAddr&) override {
    ++ended;
    return Status::ok();
  }
};

// A tunnel whose far end answers `reply`, half-closes, then reads the app's bytes until the
// app's side ends (EOF or error): it stays open as long as the app keeps its connection.
class ScriptedTunnel final : public Tunnel {
 public:
  explicit ScriptedTunnel(std::string reply) : reply_(std::move(reply)) {}
  void splice(boost::asio::ip::tcp::socket app, hbone::SpliceDone done) override;

 private:
  static boost::asio::awaitable<hbone::SpliceResult> run(std::string reply,
                                                         boost::asio::ip::tcp::socket& app);
  std::string reply_;
};

// What the outbound proxy asked the dialer for.
struct Dial {
  std::string address;  // connect_to, "ip:port"
  std::string authority;
  std::string source_identity;
  std::vector<std::string> expected_server_ids;
  std::string source;  // the request's source address ("forwarded")
};

// Answers dials in order from a script: an Error, or a ScriptedTunnel with a reply.
// Past the end of the script every dial is refused.
class FakeDialer final : public TunnelDialer {
 public:
  struct Answer {
    std::optional<Error> error;  // none: accepted
    std::string reply;
  };
  std::deque<Answer> script;
  std::vector<Dial> dials;

  void accept(std::string reply) { script.push_back(Answer{std::nullopt, std::move(reply)}); }
  void refuse(int code, std::string message) {
    script.push_back(Answer{Error{code, std::move(message)}, ""});
  }

  boost::asio::awaitable<Result<std::unique_ptr<Tunnel>>> dial(
      const hbone::Destination& destination, const hbone::TunnelRequest& request) override;
};

inline bpf::SockAddr sockAddr(const std::string& ip, uint16_t port) {
  return bpf::SockAddr{*bpf::IpAddr::parse(ip), port};
}

}  // namespace ambit::ztunnel::testing
