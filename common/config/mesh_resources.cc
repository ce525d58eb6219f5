#include "common/config/mesh_resources.h"

#include <fmt/format.h>

namespace ambit::config {
namespace {

std::string namespaced(const std::string& ns, const std::string& name) {
  return fmt::format("{}/{}", ns, name);
}

Error wrongPayload(const google::protobuf::Any& any, MeshType type, const std::string& name) {
  return makeError("{} resource '{}': payload is {}, not {}", typeName(type), name, any.type_url(),
                   typeUrl(type));
}

// Unpacks into a new element of `field`, appended only when the payload has the right type.
template <typename Field>
Status unpackInto(const google::protobuf::Any& any, Field* field, MeshType type,
                  const std::string& name) {
  typename Field::value_type msg;
  if (!any.UnpackTo(&msg)) {
    return wrongPayload(any, type, name);
  }
  *field->Add() = std::move(msg);
  return Status::ok();
}

}  // namespace

std::string_view typeUrl(MeshType type) {
  switch (type) {
    case MeshType::kSettings:
      return "type.googleapis.com/ambit.v1.MeshSnapshot";
    case MeshType::kNamespace:
      return "type.googleapis.com/ambit.v1.Namespace";
    case MeshType::kWorkload:
      return "type.googleapis.com/ambit.v1.Workload";
    case MeshType::kService:
      return "type.googleapis.com/ambit.v1.Service";
    case MeshType::kWaypoint:
      return "type.googleapis.com/ambit.v1.Waypoint";
    case MeshType::kAuthorizationPolicy:
      return "type.googleapis.com/ambit.v1.AuthorizationPolicy";
    case MeshType::kPeerAuthentication:
      return "type.googleapis.com/ambit.v1.PeerAuthentication";
    case MeshType::kRequestAuthentication:
      return "type.googleapis.com/ambit.v1.RequestAuthentication";
    case MeshType::kRouteTable:
      return "type.googleapis.com/ambit.v1.RouteTable";
    case MeshType::kDestinationPolicy:
      return "type.googleapis.com/ambit.v1.DestinationPolicy";
  }
  return "";
}

Result<MeshType> meshTypeFromUrl(std::string_view url) {
  for (MeshType t : kMeshTypes) {
    if (typeUrl(t) == url) return t;
  }
  return makeError("type URL '{}' is not a mesh resource type", url);
}

std::string_view typeName(MeshType type) {
  switch (type) {
    case MeshType::kSettings:
      return "Settings";
    case MeshType::kNamespace:
      return "Namespace";
    case MeshType::kWorkload:
      return "Workload";
    case MeshType::kService:
      return "Service";
    case MeshType::kWaypoint:
      return "Waypoint";
    case MeshType::kAuthorizationPolicy:
      return "AuthorizationPolicy";
    case MeshType::kPeerAuthentication:
      return "PeerAuthentication";
    case MeshType::kRequestAuthentication:
      return "RequestAuthentication";
    case MeshType::kRouteTable:
      return "RouteTable";
    case MeshType::kDestinationPolicy:
      return "DestinationPolicy";
  }
  return "";
}

std::string resourceName(const v1::Namespace& r) { return r.name(); }
std::string resourceName(const v1::Workload& r) { return r.uid(); }
std::string resourceName(const v1::Service& r) { return namespaced(r.namespace_(), r.name()); }
std::string resourceName(const v1::Waypoint& r) { return namespaced(r.namespace_(), r.name()); }
std::string resourceName(const v1::AuthorizationPolicy& r) {
  return namespaced(r.namespace_(), r.name());
}
std::string resourceName(const v1::PeerAuthentication& r) {
  return namespaced(r.namespace_(), r.name());
}
std::string resourceName(const v1::RequestAuthentication& r) {
  return namespaced(r.namespace_(), r.name());
}
std::string resourceName(const v1::RouteTable& r) { return namespaced(r.namespace_(), r.name()); }
std::string resourceName(const v1::DestinationPolicy& r) {
  return namespaced(r.namespace_(), r.name());
}

void forEachResource(const v1::MeshSnapshot& snapshot,
                     const std::function<void(MeshType, const std::string& name,
                                              const google::protobuf::Message&)>& fn) {
  v1::MeshSnapshot settings;
  settings.set_trust_domain(snapshot.trust_domain());
  settings.set_root_namespace(snapshot.root_namespace());
  fn(MeshType::kSettings, std::string(kSettingsName), settings);
  auto each = [&](MeshType type, const auto& field) {
    for (const auto& r : field) fn(type, resourceName(r), r);
  };
  each(MeshType::kNamespace, snapshot.namespaces());
  each(MeshType::kWorkload, snapshot.workloads());
  each(MeshType::kService, snapshot.services());
  each(MeshType::kWaypoint, snapshot.waypoints());
  each(MeshType::kAuthorizationPolicy, snapshot.authorization_policies());
  each(MeshType::kPeerAuthentication, snapshot.peer_authentications());
  each(MeshType::kRequestAuthentication, snapshot.request_authentications());
  each(MeshType::kRouteTable, snapshot.route_tables());
  each(MeshType::kDestinationPolicy, snapshot.destination_policies());
}

Status addResource(v1::MeshSnapshot& snapshot, MeshType type, const std::string& name,
                   const google::protobuf::Any& any) {
  switch (type) {
    case MeshType::kSettings: {
      v1::MeshSnapshot s;
      if (!any.UnpackTo(&s)) {
        return wrongPayload(any, type, name);
      }
      snapshot.set_trust_domain(s.trust_domain());
      snapshot.set_root_namespace(s.root_namespace());
      return Status::ok();
    }
    case MeshType::kNamespace:
      return unpackInto(any, snapshot.mutable_namespaces(), type, name);
    case MeshType::kWorkload:
      return unpackInto(any, snapshot.mutable_workloads(), type, name);
    case MeshType::kService:
      return unpackInto(any, snapshot.mutable_services(), type, name);
    case MeshType::kWaypoint:
      return unpackInto(any, snapshot.mutable_waypoints(), type, name);
    case MeshType::kAuthorizationPolicy:
      return unpackInto(any, snapshot.mutable_authorization_policies(), type, name);
    case MeshType::kPeerAuthentication:
      return unpackInto(any, snapshot.mutable_peer_authentications(), type, name);
    case MeshType::kRequestAuthentication:
      return unpackInto(any, snapshot.mutable_request_authentications(), type, name);
    case MeshType::kRouteTable:
      return unpackInto(any, snapshot.mutable_route_tables(), type, name);
    case MeshType::kDestinationPolicy:
      return unpackInto(any, snapshot.mutable_destination_policies(), type, name);
  }
  return makeError("unknown mesh type for resource '{}'", name);
}

}  // namespace ambit::config
