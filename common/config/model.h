#pragma once
// Internal to ambit_config: the per-resource translation output before cross-resource checks
// (duplicates, subsets, pod IP clashes) and assembly into a MeshSnapshot. Every item remembers
// the resource it came from so a bad file can be dropped as a whole.

#include <string>
#include <vector>

#include "ambit/v1/mesh.pb.h"
#include "common/config/field_reader.h"
#include "common/config/resource.h"

namespace ambit::config {

struct LoaderOptions;

template <typename T>
struct Sourced {
  T msg;
  const Resource* origin = nullptr;
};

// A `destination.subset` reference, checked against DestinationRules after translation.
struct SubsetRef {
  std::string host;
  std::string subset;
  YAML::Node at;
  const Resource* origin = nullptr;
};

// A pod IP claim, checked for clashes between pods.
struct IpClaim {
  std::string ip;
  YAML::Node at;
  const Resource* origin = nullptr;
};

// An EndpointSlice's Pod endpoints, for a Service without a selector: the slice's service
// (label kubernetes.io/service-name) and the pods its endpoints point at ("<ns>/<name>").
struct ServiceEndpoints {
  std::string ns;
  std::string service;
  std::vector<std::string> pods;
};

struct PartialModel {
  std::vector<Sourced<v1::Namespace>> namespaces;
  std::vector<Sourced<v1::Workload>> workloads;
  std::vector<Sourced<v1::Service>> services;
  std::vector<Sourced<v1::Waypoint>> waypoints;
  std::vector<Sourced<v1::AuthorizationPolicy>> authorization_policies;
  std::vector<Sourced<v1::PeerAuthentication>> peer_authentications;
  std::vector<Sourced<v1::RequestAuthentication>> request_authentications;
  std::vector<Sourced<v1::RouteTable>> route_tables;
  std::vector<Sourced<v1::DestinationPolicy>> destination_policies;
  std::vector<Sourced<ServiceEndpoints>> endpoint_slices;
  std::vector<SubsetRef> subset_refs;
  std::vector<IpClaim> ip_claims;
};

// What a kind translator gets: the resource, a reader bound to it, the options, the output.
struct TranslateContext {
  const Resource& res;
  FieldReader& reader;
  const LoaderOptions& options;
  PartialModel& model;

  // Resolves a short host name against the resource's namespace.
  std::string host(std::string_view h) const;
};

// metadata.labels with key/value validation.
std::map<std::string, std::string> readLabels(TranslateContext& ctx);
// A label selector map (matchLabels or a Service selector), validated like labels.
std::map<std::string, std::string> readSelector(TranslateContext& ctx, const YAML::Node& map,
                                                std::string_view key, std::string_view path);

// Translates one resource into `model` (identity checks, then its kind's translator); problems go
// to `errors`. `seen` (object() -> resource) catches duplicates across one translation.
void translateResource(const Resource& r, const LoaderOptions& options, PartialModel& model,
                       std::map<std::string, const Resource*>& seen, ConfigErrors& errors);
// True when translate() knows `kind`.
bool isMeshKind(std::string_view kind);

// The fields below a Pod's spec and status that translatePod reads. Every other value there is
// only checked to be a known key, so the API path (kube_object.h) does not convert it: pods are
// most of a cluster's objects and most of a pod is container specs and statuses.
bool podReadsField(std::string_view section, std::string_view key);
// A problem in one label's or annotation's value: its key and why.
struct KeyedProblem {
  std::string key;
  std::string reason;
};
// The mesh labels of a workload or namespace (istio.io/dataplane-mode, istio.io/use-waypoint).
std::vector<KeyedProblem> meshLabelProblems(const std::map<std::string, std::string>& labels);
// Sets what a pod's ambit.dev/* annotations say (netns path, bypassed ports and CIDRs).
std::vector<KeyedProblem> applyPodAnnotations(const std::map<std::string, std::string>& annotations,
                                              v1::Workload& w);
// The workload's canonical name and revision from its labels (`name`, "latest" without them).
void setCanonicalNames(const std::map<std::string, std::string>& labels, const std::string& name,
                       v1::Workload& w);
// Every key a Pod's spec and status may hold (checkPodShape in translate_core.cc).
extern const std::vector<std::string_view> kPodSpecFields;
extern const std::vector<std::string_view> kPodStatusFields;
// The top-level keys of every kind but EndpointSlice.
extern const std::vector<std::string_view> kTopLevelFields;
// The labels a workload's canonical name and revision come from, first found wins.
extern const std::vector<std::string_view> kCanonicalNameLabels;
extern const std::vector<std::string_view> kCanonicalRevisionLabels;

// Kind translators, one per family. Each records errors through ctx.reader.
void translateNamespace(TranslateContext& ctx);
void translatePod(TranslateContext& ctx);
void translateService(TranslateContext& ctx);
void translateGateway(TranslateContext& ctx);
void translateAuthorizationPolicy(TranslateContext& ctx);
void translatePeerAuthentication(TranslateContext& ctx);
void translateRequestAuthentication(TranslateContext& ctx);
void translateVirtualService(TranslateContext& ctx);
void translateDestinationRule(TranslateContext& ctx);
void translateHttpRoute(TranslateContext& ctx);
void translateEndpointSlice(TranslateContext& ctx);

}  // namespace ambit::config
