#pragma once
// The waypoint's view of one MeshSnapshot: services by VIP and hostname, workloads by uid,
// the route table and subsets for each service host, and the compiled L7 policies.
// Immutable once built; the waypoint swaps a new shared_ptr<const MeshIndex> on every config
// change and each request keeps the one it started with.

#include <boost/asio/ip/address.hpp>
#include <map>
#include <memory>
#include <string>

#include "ambit/v1/mesh.pb.h"
#include "common/rbac/rbac.h"
#include "common/status.h"

namespace ambit::waypoint {

class MeshIndex {
 public:
  // Compiles the snapshot's authorization policies; fails (naming the policy) when one is
  // invalid, so the caller keeps its previous index.
  static Result<std::shared_ptr<const MeshIndex>> build(
      std::shared_ptr<const v1::MeshSnapshot> snapshot);

  const v1::MeshSnapshot& snapshot() const { return *snapshot_; }
  const v1::Service* serviceByVip(const boost::asio::ip::address& vip) const;
  const v1::Service* serviceByHost(const std::string& hostname) const;
  const v1::Workload* workloadByUid(const std::string& uid) const;
  const v1::Workload* workloadByIp(const boost::asio::ip::address& ip) const;
  // The VirtualService / HTTPRoute for the service (by host, or an HTTPRoute parentRef to the
  // Service); the first by "namespace/name" when several claim it; null when none.
  const v1::RouteTable* routeTableFor(const v1::Service& service) const;
  // Labels of a DestinationRule subset of `host`; null when the subset is not defined.
  const google::protobuf::Map<std::string, std::string>* subsetLabels(
      const std::string& host, const std::string& subset) const;
  // The DestinationRule trafficPolicy of `host`; null when none.
  const v1::TrafficPolicy* trafficPolicy(const std::string& host) const;
  const rbac::CompiledPolicySet& policies() const { return *policies_; }
  const std::string& trustDomain() const { return trust_domain_; }

  // spiffe://<trust domain>/ns/<ns>/sa/<service account>
  std::string spiffeId(const v1::Workload& workload) const;
  // Unique to this index in the process, increasing with each build (1, 2, ...): pointers into
  // it are meaningful together with this number (a later index can reuse their addresses).
  uint64_t serial() const { return serial_; }

 private:
  MeshIndex() = default;

  uint64_t serial_ = 0;
  std::shared_ptr<const v1::MeshSnapshot> snapshot_;
  std::shared_ptr<const rbac::CompiledPolicySet> policies_;
  std::string trust_domain_;
  std::map<boost::asio::ip::address, const v1::Service*> services_by_vip_;
  std::map<std::string, const v1::Service*> services_by_host_;
  std::map<std::string, const v1::Workload*> workloads_by_uid_;
  std::map<boost::asio::ip::address, const v1::Workload*> workloads_by_ip_;
  std::map<std::string, const v1::RouteTable*> routes_by_host_;
  std::map<std::string, const v1::DestinationPolicy*> destination_policies_;
};

}  // namespace ambit::waypoint
