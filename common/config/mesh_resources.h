#pragma once
// The mesh model as named resources: how a MeshSnapshot is cut into the resources that delta
// discovery carries (one type URL per repeated field of MeshSnapshot, one name per item) and put
// back together. ambit-control's incremental model keys its entries the same way, so a change to
// one object becomes upserts and removals of exactly these names.
//
// Names: a Namespace by its name, a Workload by its uid, every other kind "<namespace>/<name>".
// The snapshot's own settings (trust domain, root namespace) travel as one resource of type
// kSettings named "mesh": a MeshSnapshot with only those fields set.

#include <google/protobuf/any.pb.h>

#include <array>
#include <functional>
#include <string>
#include <string_view>

#include "ambit/v1/mesh.pb.h"
#include "common/status.h"

namespace ambit::config {

enum class MeshType {
  kSettings,
  kNamespace,
  kWorkload,
  kService,
  kWaypoint,
  kAuthorizationPolicy,
  kPeerAuthentication,
  kRequestAuthentication,
  kRouteTable,
  kDestinationPolicy,
};

inline constexpr std::array<MeshType, 10> kMeshTypes = {
    MeshType::kSettings,           MeshType::kNamespace,
    MeshType::kWorkload,           MeshType::kService,
    MeshType::kWaypoint,           MeshType::kAuthorizationPolicy,
    MeshType::kPeerAuthentication, MeshType::kRequestAuthentication,
    MeshType::kRouteTable,         MeshType::kDestinationPolicy,
};

inline constexpr std::string_view kSettingsName = "mesh";

// "type.googleapis.com/ambit.v1.Workload"; kSettings is ".../ambit.v1.MeshSnapshot".
std::string_view typeUrl(MeshType type);
// Inverse of typeUrl(); nullopt-like failure for a URL ambit does not serve.
Result<MeshType> meshTypeFromUrl(std::string_view url);
// "Workload", "Service", ... for messages and metrics; "Settings" for kSettings.
std::string_view typeName(MeshType type);

std::string resourceName(const v1::Namespace& r);
std::string resourceName(const v1::Workload& r);
std::string resourceName(const v1::Service& r);
std::string resourceName(const v1::Waypoint& r);
std::string resourceName(const v1::AuthorizationPolicy& r);
std::string resourceName(const v1::PeerAuthentication& r);
std::string resourceName(const v1::RequestAuthentication& r);
std::string resourceName(const v1::RouteTable& r);
std::string resourceName(const v1::DestinationPolicy& r);

// Calls fn for every resource of the snapshot (the settings first, then each repeated field in
// snapshot order), with its type, name and message.
void forEachResource(const v1::MeshSnapshot& snapshot,
                     const std::function<void(MeshType, const std::string& name,
                                              const google::protobuf::Message&)>& fn);

// Appends one resource to `snapshot` (kSettings overwrites the settings fields). Fails, naming
// the type and resource, when `any` does not hold the message type `type` expects.
Status addResource(v1::MeshSnapshot& snapshot, MeshType type, const std::string& name,
                   const google::protobuf::Any& any);

}  // namespace ambit::config
