#pragma once
// The ztunnel's view of the mesh: an immutable index over one translated MeshSnapshot
// (workloads by IP, services by VIP) answering "where does this connection go?".
// Readers hold a shared_ptr<const MeshState>; a config change builds a new one and swaps it.

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ambit/v1/mesh.pb.h"

namespace ambit::ztunnel {

using Address = boost::asio::ip::address;
using Endpoint = boost::asio::ip::tcp::endpoint;

// Where an outbound connection is sent.
struct OutboundTarget {
  enum class Kind { kMeshWorkload, kWaypoint, kPassthrough };
  Kind kind = Kind::kPassthrough;
  Endpoint connect_to;  // HBONE: <ip>:15008; passthrough: the original destination
  Endpoint authority;   // HBONE :authority (pod ip:target port, or VIP:port for waypoints)
  const v1::Workload* workload = nullptr;        // destination workload (mesh)
  const v1::Service* service = nullptr;          // when addressed through a service VIP
  std::vector<std::string> expected_identities;  // SPIFFE ids the server may present
};

class MeshState {
 public:
  explicit MeshState(std::shared_ptr<const v1::MeshSnapshot> snapshot);

  const v1::MeshSnapshot& snapshot() const { return *snapshot_; }
  const v1::Workload* workloadByIp(const Address& ip) const;
  const v1::Workload* workloadByUid(const std::string& uid) const;
  const v1::Service* serviceByVip(const Address& ip) const;
  const v1::Namespace* namespaceByName(const std::string& name) const;
  // A service selecting the workload (the first by name), for destination_service labels on
  // inbound connections, where the original VIP is no longer known.
  const v1::Service* serviceOfWorkload(const std::string& uid) const;

  // Candidate targets for an original destination, best first; the caller tries them in order
  // (a refused endpoint falls through to the next). `pick` rotates the service endpoint list
  // (inject for deterministic tests).
  std::vector<OutboundTarget> resolveOutbound(const Endpoint& original_dst, uint64_t pick) const;

  static std::string spiffeId(const v1::Workload& w);

 private:
  std::optional<OutboundTarget> toWorkload(const v1::Workload& w, uint16_t port,
                                           const v1::Service* svc, bool want_v6) const;
  // `pick` chooses among the pods when the waypoint's address is its Service's VIP.
  // The service's endpoints that serve `port` (nullptr: any) round-robin from `pick`, the ready
  // ones only unless none is (config::preferReady).
  std::vector<const v1::Workload*> endpointsFrom(const v1::Service& svc,
                                                 const v1::ServicePort* port, uint64_t pick) const;
  std::optional<OutboundTarget> toWaypoint(const std::string& waypoint, const Endpoint& vip,
                                           uint64_t pick) const;

  std::shared_ptr<const v1::MeshSnapshot> snapshot_;
  std::map<Address, const v1::Workload*> workloads_by_ip_;
  std::map<std::string, const v1::Workload*> workloads_by_uid_;
  std::map<Address, const v1::Service*> services_by_vip_;
  std::map<std::string, const v1::Namespace*> namespaces_;
  std::map<std::string, const v1::Service*> service_of_workload_;  // by workload uid
  std::map<std::string, const v1::Waypoint*> waypoints_;           // "<ns>/<name>"
};

}  // namespace ambit::ztunnel
