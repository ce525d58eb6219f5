#include "ztunnel/state.h"

#include "ambit/abi.h"
#include "common/config/endpoints.h"

namespace ambit::ztunnel {

namespace {

std::optional<Address> parseIp(const std::string& text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(text, ec);
  if (ec) return std::nullopt;
  return a;
}

const v1::ServicePort* findPort(const v1::Service& svc, uint16_t port) {
  for (const auto& p : svc.ports()) {
    if (p.port() == port) return &p;
  }
  return nullptr;
}

// Prefer an endpoint address of the same family as the destination the app dialled.
std::optional<Address> addressFor(const v1::Workload& w, bool want_v6) {
  std::optional<Address> fallback;
  for (const auto& text : w.addresses()) {
    auto a = parseIp(text);
    if (!a) continue;
    if (a->is_v6() == want_v6) return a;
    if (!fallback) fallback = a;
  }
  return fallback;
}

}  // namespace

MeshState::MeshState(std::shared_ptr<const v1::MeshSnapshot> snapshot)
    : snapshot_(std::move(snapshot)) {
  for (const auto& w : snapshot_->workloads()) {
    workloads_by_uid_[w.uid()] = &w;
    for (const auto& a : w.addresses()) {
      if (auto ip = parseIp(a)) workloads_by_ip_[*ip] = &w;
    }
  }
  for (const auto& s : snapshot_->services()) {
    for (const auto& v : s.vips()) {
      if (auto ip = parseIp(v)) services_by_vip_[*ip] = &s;
    }
    for (const auto& uid : s.endpoints()) service_of_workload_.emplace(uid, &s);
  }
  for (const auto& n : snapshot_->namespaces()) namespaces_[n.name()] = &n;
  for (const auto& wp : snapshot_->waypoints()) waypoints_[wp.namespace_() + "/" + wp.name()] = &wp;
}

const v1::Workload* MeshState::workloadByIp(const Address& ip) const {
  auto it = workloads_by_ip_.find(ip);
  return it == workloads_by_ip_.end() ? nullptr : it->second;
}

const v1::Workload* MeshState::workloadByUid(const std::string& uid) const {
  auto it = workloads_by_uid_.find(uid);
  return it == workloads_by_uid_.end() ? nullptr : it->second;
}

const v1::Service* MeshState::serviceByVip(const Address& ip) const {
  auto it = services_by_vip_.find(ip);
  return it == services_by_vip_.end() ? nullptr : it->second;
}

const v1::Namespace* MeshState::namespaceByName(const std::string& name) const {
  auto it = namespaces_.find(name);
  return it == namespaces_.end() ? nullptr : it->second;
}

const v1::Service* MeshState::serviceOfWorkload(const std::string& uid) const {
  auto it = service_of_workload_.find(uid);
  return it == service_of_workload_.end() ? nullptr : it->second;
}

std::string MeshState::spiffeId(const v1::Workload& w) {
  std::string td = w.trust_domain().empty() ? "cluster.local" : w.trust_domain();
  return "spiffe://" + td + "/ns/" + w.namespace_() + "/sa/" + w.service_account();
}

std::optional<OutboundTarget> MeshState::toWorkload(const v1::Workload& w, uint16_t port,
                                                    const v1::Service* svc, bool want_v6) const {
  OutboundTarget t;
  t.workload = &w;
  t.service = svc;
  auto ip = addressFor(w, want_v6);
  if (!ip) return std::nullopt;
  t.authority = Endpoint(*ip, port);
  if (w.enrolled()) {
    t.kind = OutboundTarget::Kind::kMeshWorkload;
    t.connect_to = Endpoint(*ip, AMBIT_PORT_HBONE);
    t.expected_identities.push_back(spiffeId(w));
  } else {
    t.kind = OutboundTarget::Kind::kPassthrough;
    t.connect_to = t.authority;
  }
  return t;
}

std::vector<const v1::Workload*> MeshState::endpointsFrom(const v1::Service& svc,
                                                          const v1::ServicePort* port,
                                                          uint64_t pick) const {
  const auto& uids = svc.endpoints();
  std::vector<const v1::Workload*> eps;
  eps.reserve(static_cast<size_t>(uids.size()));
  for (int i = 0; i < uids.size(); ++i) {
    const v1::Workload* w = workloadByUid(uids[static_cast<int>((pick + i) % uids.size())]);
    if (w != nullptr && config::servesPort(port, *w)) eps.push_back(w);
  }
  return config::preferReady(std::move(eps));
}

std::optional<OutboundTarget> MeshState::toWaypoint(const std::string& waypoint,
                                                    const Endpoint& vip, uint64_t pick) const {
  auto it = waypoints_.find(waypoint);
  if (it == waypoints_.end() || it->second->addresses().empty()) return std::nullopt;
  const v1::Waypoint& wp = *it->second;
  auto ip = parseIp(wp.addresses(0));
  if (!ip) return std::nullopt;
  // A Gateway's status address is usually its Service's VIP (ambit-control and Istio publish
  // that): dial one of the Service's pods directly, as Istio's ztunnel does, so reaching a
  // waypoint needs no kube-proxy on the node.
  if (const v1::Service* svc = serviceByVip(*ip); svc != nullptr && !svc->endpoints().empty()) {
    std::optional<Address> pod_ip;
    for (const v1::Workload* w : endpointsFrom(*svc, nullptr, pick)) {
      if ((pod_ip = addressFor(*w, ip->is_v6()))) break;
    }
    if (!pod_ip) return std::nullopt;
    ip = pod_ip;
  }
  OutboundTarget t;
  t.kind = OutboundTarget::Kind::kWaypoint;
  t.connect_to = Endpoint(*ip, wp.hbone_port() ? wp.hbone_port() : AMBIT_PORT_HBONE);
  t.authority = vip;
  std::string td = snapshot_->trust_domain().empty() ? "cluster.local" : snapshot_->trust_domain();
  t.expected_identities.push_back(
      "spiffe://" + td + "/ns/" + wp.namespace_() + "/sa/" +
      (wp.service_account().empty() ? wp.name() : wp.service_account()));
  return t;
}

std::vector<OutboundTarget> MeshState::resolveOutbound(const Endpoint& dst, uint64_t pick) const {
  std::vector<OutboundTarget> out;
  if (const v1::Service* svc = serviceByVip(dst.address())) {
    const v1::ServicePort* sp = findPort(*svc, dst.port());
    if (!svc->waypoint().empty()) {
      if (auto t = toWaypoint(svc->waypoint(), dst, pick)) {
        t->service = svc;
        out.push_back(*t);
        return out;
      }
    }
    for (const v1::Workload* w : endpointsFrom(*svc, sp, pick)) {
      const auto port = config::endpointPort(sp, *w, dst.port());
      // The endpoint address of the family the app dialled (a v6 VIP reaches the pod over v6),
      // else whichever it has.
      if (auto t = toWorkload(*w, static_cast<uint16_t>(*port), svc, dst.address().is_v6())) {
        out.push_back(*t);
      }
    }
    return out;
  }
  if (const v1::Workload* w = workloadByIp(dst.address())) {
    if (auto t = toWorkload(*w, dst.port(), nullptr, dst.address().is_v6())) {
      // The app dialled this exact pod address: keep it (v4 or v6) as the authority.
      t->authority = dst;
      if (t->kind == OutboundTarget::Kind::kMeshWorkload) {
        t->connect_to = Endpoint(dst.address(), AMBIT_PORT_HBONE);
      } else {
        t->connect_to = dst;
      }
      out.push_back(*t);
    }
    return out;
  }
  OutboundTarget passthrough;
  passthrough.connect_to = dst;
  passthrough.authority = dst;
  out.push_back(passthrough);
  return out;
}

}  // namespace ambit::ztunnel
