#pragma once
// MeshModel: the mesh built incrementally from Kubernetes API objects, for ambit-control.
//
// It is fed objects one at a time (what common/kube/reflector.h delivers: Namespaces, Pods,
// Services, EndpointSlices, Istio security/networking resources, Gateway API Gateways and
// HTTPRoutes) and keeps the same mesh translate() (loader.h) would build from the current
// objects, each object being its own "file": the per-kind translators are the same ones, and the
// joins of assemble.cc (enrollment, waypoint binding, service endpoints, waypoint addresses) are
// maintained incrementally, so one pod change costs the pod, the services whose selectors match
// its old or new labels and the waypoint it backs, not a re-translation of the cluster.
//
// Per-object problems (anything the kind translator reports, e.g. VirtualService weights that
// do not sum to 100): the upsert is kRejected with the errors, and the model keeps the object's
// last good version (or nothing, if it never had one). Everything else keeps working.
//
// Cross-resource conditions are order independent ("accepted but pending"): an object valid on
// its own is stored, and is in the mesh only while its conditions hold; it is re-checked
// whenever what it depends on changes, and enters the mesh by itself once they hold. A pending
// version replaces the object's previous version (as in Istio, where a VirtualService naming a
// missing subset is accepted and that subset has no endpoints until a DestinationRule defines
// it). The conditions are translate()'s crossCheck():
//   - a VirtualService's destination subsets must be defined by some DestinationRule for that
//     host; re-checked when a DestinationRule for the host changes;
//   - a pod IP belongs to the pod that claimed it first (the object stored earliest); any later
//     pod claiming it is pending until the first one is removed or gives the IP up.
// Which object is "earlier" is the order objects were first stored (an update keeps its place,
// a removal forgets it): the model equals translate() of its stored objects in that order.
//
// An upsert can also make other objects pending or admit them (a DestinationRule losing a
// subset, a pod giving up an IP): pendingErrors() lists every pending object and why, for
// ambit-control's Events. A VirtualService and an HTTPRoute of the same name and namespace are
// one RouteTable name: the earliest stored one in the mesh is served, the other takes over
// when it goes (translate() would emit both).
//
// Joins, as in assemble.cc: enrollment and waypoint binding from the workload's, service's and
// namespace's labels and the bound Gateway's istio.io/waypoint-for; service endpoints from the
// selector, or, for a Service without one, from its EndpointSlices' endpoints whose targetRef is
// a Pod; waypoint addresses from status.addresses, else from its pods (label
// gateway.networking.k8s.io/gateway-name). Index work happens in upsert()/remove(); the final
// messages of what changed are rebuilt in takeDelta() (or snapshot()/size()), so a burst of
// changes (the initial list) rebuilds each touched service once.
//
// Output: takeDelta() returns what changed since the previous call as mesh resources
// (mesh_resources.h names and types), coalesced: an item created and deleted between two calls
// does not appear; one that existed before and was deleted appears once as removed. Final
// messages are shared and immutable.
//
// Thread-safety: none; ambit-control calls it on its config thread only.

#include <google/protobuf/message.h>

#include <array>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/config_error.h"
#include "common/config/loader.h"
#include "common/config/mesh_resources.h"

namespace ambit::config {

enum class UpsertOutcome {
  kApplied,   // stored and in the mesh (or, for a completed pod or a non-waypoint Gateway,
              // stored and contributing nothing)
  kPending,   // stored, valid on its own, waiting for a cross-resource condition (errors say which)
  kRejected,  // invalid (errors say why); the last good version stays
  kIgnored,   // a kind the mesh does not use; nothing stored
};

std::string_view outcomeName(UpsertOutcome outcome);

struct UpsertResult {
  UpsertOutcome outcome = UpsertOutcome::kApplied;
  std::string object;   // "Pod default/web-1"; empty when the object could not be identified
  ConfigErrors errors;  // file "kubernetes:<Kind> <ns>/<name>", line 0, field path in reason

  bool ok() const { return outcome == UpsertOutcome::kApplied; }
};

// Mesh resources changed since the previous takeDelta(), per MeshType.
struct MeshDelta {
  using Item = std::pair<std::string, std::shared_ptr<const google::protobuf::Message>>;
  struct Changes {
    std::vector<Item> upserted;        // name → final message (after joins), sorted by name
    std::vector<std::string> removed;  // sorted
  };
  std::array<Changes, kMeshTypes.size()> changes;  // indexed by static_cast<size_t>(MeshType)

  const Changes& of(MeshType type) const { return changes[static_cast<size_t>(type)]; }
  size_t size() const;  // upserts + removals over all types
  bool empty() const { return size() == 0; }
};

// Applies `delta` to `snapshot` (removals and replacements by resource name; new items appended).
// For consumers that hold a whole snapshot, and tests. Fails on a message of the wrong type.
Status applyDelta(const MeshDelta& delta, v1::MeshSnapshot& snapshot);

class MeshModel {
 public:
  explicit MeshModel(LoaderOptions options = {});
  ~MeshModel();
  MeshModel(const MeshModel&) = delete;
  MeshModel& operator=(const MeshModel&) = delete;

  // Adds or replaces one API object. Its kind and apiVersion come from the object; `kind` and
  // `api_version` stand in when it has none (items of a List response).
  UpsertResult upsert(const nlohmann::json& object, std::string_view kind = {},
                      std::string_view api_version = {});
  // Removes an object (`ns` empty for a Namespace). False when the model does not hold it.
  bool remove(std::string_view kind, std::string_view ns, std::string_view name);

  // Every mesh resource changed since the previous call (the first call: everything).
  MeshDelta takeDelta();
  // The whole current mesh: settings, then every type sorted by resource name. `version` is a
  // counter that moves whenever a resource changes.
  v1::MeshSnapshot snapshot() const;
  // Resources of one type in the mesh (kSettings: 1).
  size_t size(MeshType type) const;
  // Stored objects, including pending ones.
  size_t objectCount() const;
  // Why each pending object is not in the mesh, sorted by object.
  ConfigErrors pendingErrors() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace ambit::config
