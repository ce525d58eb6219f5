#pragma once
// L7 routing for one request to a service: the first matching HttpRoute of the service's
// VirtualService / HTTPRoute (uri exact/prefix/regex, headers, queryParams, method, port), a
// weighted destination, the DestinationRule subset's endpoints, and the DestinationRule's load
// balancing among them: ROUND_ROBIN (default), RANDOM, or LEAST_REQUEST (power of two
// choices on requests in flight, Envoy's algorithm), after outlier detection took ejected
// endpoints out (OutlierDetector).
// Without a route table every endpoint of the service is a candidate.
//
// Thread model: a Router belongs to one data thread (it keeps round-robin positions and a
// RE2 regex cache: linear-time matching, so no path can make it recurse or backtrack); route()
// reads an immutable MeshIndex. Randomness (weighted picks, fault percentages) comes from the
// injected RandomSource so tests are deterministic.

#include <re2/re2.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ambit/v1/route.pb.h"
#include "common/rbac/attributes.h"
#include "waypoint/mesh_index.h"
#include "waypoint/outlier.h"

namespace ambit::waypoint {

// Uniform in [0, 2^32).
using RandomSource = std::function<uint32_t()>;
// Requests in flight to a workload (for LEAST_REQUEST).
using LoadProbe = std::function<size_t(const v1::Workload&)>;
RandomSource defaultRandomSource();

struct RouteInput {
  std::string_view method;
  std::string_view path;   // normalised, without query
  std::string_view query;  // after '?', undecoded; empty when none
  const rbac::HeaderSource* headers = nullptr;
  uint16_t port = 0;  // the service port the client dialled
};

struct RouteDecision {
  int direct_status = 0;  // non-zero: answer with this status (404 no route, 503 no endpoint)
  std::string_view reason;
  const v1::HttpRoute* route = nullptr;  // null without a route table
  const v1::HttpMatch* match = nullptr;  // the match that selected `route` (null: catch-all)
  const v1::RouteDestination* destination = nullptr;  // the weighted pick
  const v1::Service* service = nullptr;               // destination service
  std::string subset;
  const v1::ServicePort* service_port = nullptr;  // the dialled port of `service`, if declared
  uint16_t target_port = 0;  // the endpoint's port (a named targetPort: see endpointPort())
  std::vector<const v1::Workload*> endpoints;  // candidates, in round-robin order from now
};

// Why an HttpMatch did not match a request: the first criterion that failed.
struct MatchMismatch {
  enum class Criterion : uint8_t { kNone, kUri, kPort, kMethod, kHeader, kQueryParam };
  Criterion criterion = Criterion::kNone;  // kNone: the match matched
  int index = 0;                           // kHeader / kQueryParam: which entry

  bool matched() const { return criterion == Criterion::kNone; }
};

// route() with a trace (`ambitctl explain`): every route considered, in order, up to the one
// that matched, with each of its matches' outcome.
struct RouteTrace {
  struct Route {
    int index = 0;
    bool matched = false;
    std::vector<MatchMismatch> matches;  // the matches tried, in order (the last one hit)
  };
  const v1::RouteTable* table = nullptr;  // null: the service has no route table
  std::vector<Route> routes;
};

class Router {
 public:
  explicit Router(RandomSource random = defaultRandomSource()) : random_(std::move(random)) {}
  // Without a probe LEAST_REQUEST falls back to round robin.
  void setLoadProbe(LoadProbe probe) { load_ = std::move(probe); }

  // `trace` (may be null) receives the routes and matches considered; the decision is the
  // same with or without it.
  RouteDecision route(const MeshIndex& index, const v1::Service& service, const RouteInput& in,
                      RouteTrace* trace = nullptr);
  // Percent in [0, 100]: true with that probability.
  bool chance(double percent);
  // Feeds outlier detection: one exchange with `endpoint` of `service` failed (5xx, connect
  // failure, reset or timeout) or not.
  void recordOutcome(const MeshIndex& index, const v1::Service& service,
                     const v1::Workload& endpoint, bool failed);
  const OutlierDetector& outliers() const { return outliers_; }
  // Candidate endpoint lists kept (tests): only the last index route() saw has any.
  size_t cachedCandidates() const { return candidates_.size(); }

 private:
  MatchMismatch mismatch(const v1::HttpMatch& m, const RouteInput& in);
  bool headerMatches(const v1::HeaderMatch& m, std::optional<std::string_view> value);
  bool regexMatches(const std::string& pattern, std::string_view value, bool icase = false);
  const v1::RouteDestination* pickDestination(const v1::HttpRoute& route);
  void fillEndpoints(const MeshIndex& index, const v1::Service& service, const std::string& subset,
                     RouteDecision& out);

  void orderEndpoints(const MeshIndex& index, const std::string& host, const std::string& subset,
                      std::vector<const v1::Workload*>& eps);

  RandomSource random_;
  LoadProbe load_;
  // Orders (host, subset) keys as views, so a lookup needs no key built per request.
  struct HostSubsetLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      return std::pair<std::string_view, std::string_view>(a.first, a.second) <
             std::pair<std::string_view, std::string_view>(b.first, b.second);
    }
  };
  // (host, subset) -> next position
  std::map<std::pair<std::string, std::string>, uint64_t, HostSubsetLess> round_robin_;
  // subsetEndpoints() of the index with serial candidates_serial_, by (service, port, subset):
  // they change only with the configuration, so requests do not select them again (a label
  // match per endpoint of the service). Emptied when route() sees another index.
  struct CandidateKey {
    const v1::Service* service;
    const v1::ServicePort* port;
    std::string_view subset;  // points into the index (or is empty), like the two pointers
  };
  struct CandidateLess {  // std::less: a total order even for pointers to unrelated objects
    bool operator()(const CandidateKey& a, const CandidateKey& b) const {
      if (a.service != b.service) return std::less<const v1::Service*>()(a.service, b.service);
      if (a.port != b.port) return std::less<const v1::ServicePort*>()(a.port, b.port);
      return a.subset < b.subset;
    }
  };
  std::map<CandidateKey, std::optional<std::vector<const v1::Workload*>>, CandidateLess>
      candidates_;
  uint64_t candidates_serial_ = 0;
  std::map<std::pair<std::string, bool>, std::unique_ptr<re2::RE2>> regexes_;
  OutlierDetector outliers_;
};

// The endpoints of `service` selected by DestinationRule subset `subset` (every endpoint when
// empty) that have an address and serve Service port `port` (nullptr: undeclared, any pod does),
// the ready ones only unless none is (config::preferReady): the candidates route() starts from,
// before outlier ejection and load balancing. nullopt when the subset is not defined.
std::optional<std::vector<const v1::Workload*>> subsetEndpoints(const MeshIndex& index,
                                                                const v1::Service& service,
                                                                const std::string& subset,
                                                                const v1::ServicePort* port);

// The value of query parameter `name` in `query` (undecoded), or nullopt.
std::optional<std::string_view> queryParam(std::string_view query, std::string_view name);

}  // namespace ambit::waypoint
