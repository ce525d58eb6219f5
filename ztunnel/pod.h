#pragma once
// One enrolled pod served by this ztunnel: what the agent handed over (PodInfo, the pod's
// netns), the pod's identity, and the listeners the ztunnel opened inside its netns.
//
// Ownership: PodRegistry holds every pod by shared_ptr; a connection being served holds its
// pod too, so a pod removed mid-connection stays valid until that connection ends.
// Thread: the data thread only.

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "ambit/v1/handoff.pb.h"
#include "common/hbone/server.h"
#include "common/identity/identity_store.h"
#include "common/unique_fd.h"
#include "ztunnel/state.h"

namespace ambit::ztunnel {

struct Pod {
  v1::PodInfo info;
  UniqueFd netns;
  std::string spiffe_id;
  std::vector<Address> ips;
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> outbound;  // 127.0.0.1, [::1]:15001
  std::unique_ptr<boost::asio::ip::tcp::acceptor> inbound_plaintext;      // [::]:15006 (sk_lookup)
  std::unique_ptr<hbone::HboneServer> hbone;                              // [::]:15008
  // The bound, listening 15008 socket until the pod's certificate is installed: connections
  // wait in the kernel's backlog instead of failing a handshake the pod cannot complete yet.
  std::unique_ptr<boost::asio::ip::tcp::acceptor> hbone_pending;
  // The 15008 listener's socket inode and those of the listeners on [::]:15008 that were there
  // when it opened (a predecessor ztunnel's, during an upgrade): any other is a successor's.
  uint64_t hbone_inode = 0;
  std::set<uint64_t> hbone_predecessors;
  std::shared_ptr<identity::IdentityTls> tls;
  bool seen_in_snapshot = true;
  // Live steered plaintext connections (client IP, client port, pod port): a source-preserving
  // connect to the app must not reuse one of these 4-tuples (the pod's netns already has it).
  std::multiset<std::tuple<Address, uint16_t, uint16_t>> steered;
};

}  // namespace ambit::ztunnel
