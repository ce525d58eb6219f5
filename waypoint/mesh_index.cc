#include "waypoint/mesh_index.h"

#include <algorithm>
#include <atomic>
#include <vector>

namespace ambit::waypoint {
namespace {

template <typename T>
std::string qualifiedName(const T& resource) {
  return resource.namespace_() + "/" + resource.name();
}

// Keeps the first claimant by "namespace/name" for `key`.
template <typename T>
void claim(std::map<std::string, const T*>& index, const std::string& key, const T& resource) {
  auto [it, inserted] = index.emplace(key, &resource);
  if (!inserted && qualifiedName(resource) < qualifiedName(*it->second)) it->second = &resource;
}

}  // namespace

Result<std::shared_ptr<const MeshIndex>> MeshIndex::build(
    std::shared_ptr<const v1::MeshSnapshot> snapshot) {
  std::vector<v1::AuthorizationPolicy> authz(snapshot->authorization_policies().begin(),
                                             snapshot->authorization_policies().end());
  std::string root =
      snapshot->root_namespace().empty() ? "istio-system" : snapshot->root_namespace();
  auto compiled = rbac::compile(authz, {}, root);
  if (!compiled) return compiled.error();
  static std::atomic<uint64_t> last_serial{0};
  std::shared_ptr<MeshIndex> index(new MeshIndex());
  index->serial_ = ++last_serial;
  index->policies_ = *compiled;
  index->trust_domain_ =
      snapshot->trust_domain().empty() ? "cluster.local" : snapshot->trust_domain();
  for (const auto& s : snapshot->services()) {
    index->services_by_host_[s.hostname()] = &s;
    for (const auto& v : s.vips()) {
      boost::system::error_code ec;
      auto ip = boost::asio::ip::make_address(v, ec);
      if (!ec) index->services_by_vip_[ip] = &s;
    }
  }
  for (const auto& w : snapshot->workloads()) {
    index->workloads_by_uid_[w.uid()] = &w;
    for (const auto& a : w.addresses()) {
      boost::system::error_code ec;
      auto ip = boost::asio::ip::make_address(a, ec);
      if (!ec) index->workloads_by_ip_[ip] = &w;
    }
  }
  for (const auto& table : snapshot->route_tables()) {
    for (const auto& host : table.hosts()) claim(index->routes_by_host_, host, table);
    for (const auto& ref : table.parent_refs()) claim(index->routes_by_host_, "ref:" + ref, table);
  }
  for (const auto& dp : snapshot->destination_policies()) {
    claim(index->destination_policies_, dp.host(), dp);
  }
  index->snapshot_ = std::move(snapshot);
  return std::shared_ptr<const MeshIndex>(std::move(index));
}

const v1::Service* MeshIndex::serviceByVip(const boost::asio::ip::address& vip) const {
  auto it = services_by_vip_.find(vip);
  return it == services_by_vip_.end() ? nullptr : it->second;
}

const v1::Service* MeshIndex::serviceByHost(const std::string& hostname) const {
  auto it = services_by_host_.find(hostname);
  return it == services_by_host_.end() ? nullptr : it->second;
}

const v1::Workload* MeshIndex::workloadByUid(const std::string& uid) const {
  auto it = workloads_by_uid_.find(uid);
  return it == workloads_by_uid_.end() ? nullptr : it->second;
}

const v1::Workload* MeshIndex::workloadByIp(const boost::asio::ip::address& ip) const {
  auto it = workloads_by_ip_.find(ip);
  return it == workloads_by_ip_.end() ? nullptr : it->second;
}

const v1::RouteTable* MeshIndex::routeTableFor(const v1::Service& service) const {
  auto it = routes_by_host_.find(service.hostname());
  if (it != routes_by_host_.end()) return it->second;
  it = routes_by_host_.find("ref:Service/" + service.namespace_() + "/" + service.name());
  return it == routes_by_host_.end() ? nullptr : it->second;
}

const google::protobuf::Map<std::string, std::string>* MeshIndex::subsetLabels(
    const std::string& host, const std::string& subset) const {
  auto it = destination_policies_.find(host);
  if (it == destination_policies_.end()) return nullptr;
  for (const auto& s : it->second->subsets()) {
    if (s.name() == subset) return &s.labels();
  }
  return nullptr;
}

const v1::TrafficPolicy* MeshIndex::trafficPolicy(const std::string& host) const {
  auto it = destination_policies_.find(host);
  if (it == destination_policies_.end() || !it->second->has_traffic_policy()) return nullptr;
  return &it->second->traffic_policy();
}

std::string MeshIndex::spiffeId(const v1::Workload& w) const {
  const std::string& td = w.trust_domain().empty() ? trust_domain_ : w.trust_domain();
  return "spiffe://" + td + "/ns/" + w.namespace_() + "/sa/" + w.service_account();
}

}  // namespace ambit::waypoint
