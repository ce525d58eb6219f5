// References between objects: route hosts and destinations, HTTPRoute parents, DestinationRule
// hosts and subsets, waypoints and the labels that bind to them.
#include <fmt/format.h>

#include <map>
#include <set>

#include "cli/analyze/analyzer.h"

namespace ambit::cli {
namespace {

constexpr const char* kUseWaypoint = "istio.io/use-waypoint";

// The snapshot's services, by hostname and by "ns/name".
struct ServiceIndex {
  explicit ServiceIndex(const v1::MeshSnapshot& snap) {
    for (const auto& s : snap.services()) {
      by_host.emplace(s.hostname(), &s);
      by_name.emplace(s.namespace_() + "/" + s.name(), &s);
    }
  }
  const v1::Service* host(const std::string& h) const {
    auto it = by_host.find(h);
    return it == by_host.end() ? nullptr : it->second;
  }
  std::map<std::string, const v1::Service*> by_host;
  std::map<std::string, const v1::Service*> by_name;
};

std::set<std::string> waypointNames(const v1::MeshSnapshot& snap) {
  std::set<std::string> out;
  for (const auto& w : snap.waypoints()) out.insert(w.namespace_() + "/" + w.name());
  return out;
}

// The YAML path of route `i` (and its destination `j`) in the object the table came from.
std::vector<std::string> routePath(const v1::RouteTable& t, int i) {
  if (t.origin_kind() == "HTTPRoute") return {"spec", "rules", std::to_string(i)};
  return {"spec", "http", std::to_string(i)};
}
std::vector<std::string> destinationPath(const v1::RouteTable& t, int i, int j) {
  auto p = routePath(t, i);
  p.push_back(t.origin_kind() == "HTTPRoute" ? "backendRefs" : "route");
  p.push_back(std::to_string(j));
  return p;
}

ObjectRef objectOf(const v1::RouteTable& t) {
  return {t.origin_kind().empty() ? "VirtualService" : t.origin_kind(), t.namespace_(), t.name()};
}

void checkTableHosts(FindingSink& sink, const v1::RouteTable& t, const ServiceIndex& services) {
  if (t.origin_kind() != "VirtualService") return;  // HTTPRoute hostnames need no Service
  for (int i = 0; i < t.hosts_size(); ++i) {
    const std::string& h = t.hosts(i);
    if (h == "*" || services.host(h) != nullptr) continue;
    sink.addAt(findings::kReferencedResourceNotFound, objectOf(t), {"spec", "hosts"},
               fmt::format("Referenced host not found: \"{}\" (no Service has this hostname, so "
                           "no waypoint ever routes by this VirtualService)",
                           h),
               "name a Service's host (short name, <name>.<namespace> or the full "
               "<name>.<namespace>.svc.<domain>), or create the Service");
  }
}

void checkParents(FindingSink& sink, const v1::RouteTable& t, const ServiceIndex& services,
                  const std::set<std::string>& waypoints) {
  for (const auto& ref : t.parent_refs()) {  // "<Kind>/<ns>/<name>"
    const size_t slash = ref.find('/');
    const std::string kind = ref.substr(0, slash);
    const std::string target = ref.substr(slash + 1);
    const bool found =
        kind == "Service" ? services.by_name.count(target) > 0 : waypoints.count(target) > 0;
    if (found) continue;
    sink.addAt(findings::kReferencedResourceNotFound, objectOf(t), {"spec", "parentRefs"},
               fmt::format("Referenced {} not found: \"{}\"", kind, target),
               fmt::format("create {} {} or correct spec.parentRefs", kind, target));
  }
}

void checkDestinations(FindingSink& sink, const v1::RouteTable& t, const ServiceIndex& services) {
  for (int i = 0; i < t.http_size(); ++i) {
    for (int j = 0; j < t.http(i).destinations_size(); ++j) {
      const std::string& h = t.http(i).destinations(j).host();
      if (h.empty() || services.host(h) != nullptr) continue;
      sink.addAt(findings::kReferencedResourceNotFound, objectOf(t), destinationPath(t, i, j),
                 fmt::format("Referenced host not found: \"{}\" (route {}: the waypoint answers "
                             "503 when it picks this destination)",
                             h, i),
                 "route to an existing Service, or create it");
    }
  }
}

}  // namespace

void checkRouteReferences(FindingSink& sink) {
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  const ServiceIndex services(snap);
  const std::set<std::string> waypoints = waypointNames(snap);
  for (const auto& t : snap.route_tables()) {
    checkTableHosts(sink, t, services);
    checkParents(sink, t, services, waypoints);
    checkDestinations(sink, t, services);
  }
}

void checkSubsets(FindingSink& sink) {
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  const ServiceIndex services(snap);
  std::map<std::string, const v1::Workload*> workloads;
  for (const auto& w : snap.workloads()) workloads.emplace(w.uid(), &w);
  for (const auto& dr : snap.destination_policies()) {
    const ObjectRef object{"DestinationRule", dr.namespace_(), dr.name()};
    const v1::Service* svc = services.host(dr.host());
    if (svc == nullptr) {
      sink.addAt(findings::kReferencedResourceNotFound, object, {"spec", "host"},
                 fmt::format("Referenced host not found: \"{}\"", dr.host()),
                 "name an existing Service in spec.host, or create the Service");
      continue;
    }
    for (int i = 0; i < dr.subsets_size(); ++i) {
      const v1::Subset& subset = dr.subsets(i);
      bool any = false;
      for (const auto& uid : svc->endpoints()) {
        auto it = workloads.find(uid);
        if (it == workloads.end()) continue;
        bool all = true;
        for (const auto& [k, v] : subset.labels()) {
          auto l = it->second->labels().find(k);
          all = all && l != it->second->labels().end() && l->second == v;
        }
        any = any || all;
      }
      if (any) continue;
      sink.addAt(findings::kDestinationRuleSubsetNotSelectPods, object,
                 {"spec", "subsets", std::to_string(i)},
                 fmt::format("The Subset {} defined in the DestinationRule does not select any "
                             "pods of Service {}/{}: requests routed to it fail with 503 UH "
                             "(no healthy upstream)",
                             subset.name(), svc->namespace_(), svc->name()),
                 "correct the subset's labels, deploy pods that carry them, or remove the "
                 "subset if no route uses it");
    }
  }
}

void checkWaypoints(FindingSink& sink) {
  const v1::MeshSnapshot& snap = sink.source().snapshot();
  const std::set<std::string> waypoints = waypointNames(snap);
  std::set<std::string> used;
  const auto bound = [&](const std::string& ref, ObjectRef object, const std::string& via) {
    if (ref.empty()) return;
    if (waypoints.count(ref) > 0) {
      used.insert(ref);
      return;
    }
    sink.addAt(findings::kReferencedResourceNotFound, std::move(object),
               {"metadata", "labels", kUseWaypoint},
               fmt::format("Referenced waypoint not found: \"{}\" ({} {}): its traffic is not "
                           "sent to any waypoint",
                           ref, kUseWaypoint, via),
               fmt::format("create Gateway {} with gatewayClassName istio-waypoint, or correct "
                           "the label",
                           ref));
  };
  for (const auto& n : snap.namespaces())
    bound(n.waypoint(), {"Namespace", "", n.name()}, "on the namespace");
  std::set<std::string> reported_ns;
  for (const auto& s : snap.services()) {
    if (s.labels().count(kUseWaypoint) == 0) {
      if (waypoints.count(s.waypoint())) used.insert(s.waypoint());
      continue;
    }
    bound(s.waypoint(), {"Service", s.namespace_(), s.name()}, "on the service");
  }
  for (const auto& w : snap.workloads()) {
    if (w.labels().count(kUseWaypoint) == 0) {
      if (waypoints.count(w.waypoint())) used.insert(w.waypoint());
      continue;
    }
    bound(w.waypoint(), {"Pod", w.namespace_(), w.name()}, "on the pod");
  }
  for (const auto& wp : snap.waypoints()) {
    const std::string ref = wp.namespace_() + "/" + wp.name();
    if (used.count(ref)) continue;
    sink.add(findings::kUnusedWaypoint, {"Gateway", wp.namespace_(), wp.name()},
             fmt::format("Waypoint {} is not used: no Namespace, Service or Pod is bound to it "
                         "(waypoint-for: {})",
                         ref, wp.traffic_type().empty() ? "service" : wp.traffic_type()),
             fmt::format("label the namespace or a Service with {}={} (kubectl label ...), or "
                         "delete the Gateway",
                         kUseWaypoint, wp.name()));
  }
}

}  // namespace ambit::cli
