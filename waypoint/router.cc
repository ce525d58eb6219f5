#include "waypoint/router.h"

#include <algorithm>
#include <random>

#include "common/config/endpoints.h"

namespace ambit::waypoint {
namespace {

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

bool labelsSelect(const google::protobuf::Map<std::string, std::string>& want,
                  const v1::Workload& w) {
  for (const auto& [k, v] : want) {
    auto it = w.labels().find(k);
    if (it == w.labels().end() || it->second != v) return false;
  }
  return true;
}

const v1::ServicePort* portEntry(const v1::Service& svc, uint32_t port) {
  for (const auto& p : svc.ports()) {
    if (p.port() == port) return &p;
  }
  return nullptr;
}

uint16_t targetPortFor(const v1::Service& svc, uint32_t port) {
  const v1::ServicePort* p = portEntry(svc, port);
  return static_cast<uint16_t>(p && p->target_port() ? p->target_port() : port);
}

}  // namespace

RandomSource defaultRandomSource() {
  auto engine = std::make_shared<std::mt19937>(std::random_device{}());
  return [engine]() { return static_cast<uint32_t>((*engine)()); };
}

std::optional<std::string_view> queryParam(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    size_t eq = pair.find('=');
    if (pair.substr(0, eq) == name) {
      return eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

bool Router::chance(double percent) {
  if (percent <= 0) return false;
  if (percent >= 100) return true;
  return static_cast<double>(random_()) < percent / 100.0 * 4294967296.0;
}

bool Router::regexMatches(const std::string& pattern, std::string_view value, bool icase) {
  auto key = std::make_pair(pattern, icase);
  auto it = regexes_.find(key);
  if (it == regexes_.end()) {
    RE2::Options options;
    options.set_log_errors(false);
    options.set_case_sensitive(!icase);
    it = regexes_.emplace(key, std::make_unique<RE2>(pattern, options)).first;
  }
  // Validated at translation; an invalid pattern that slipped through never matches.
  return it->second->ok() &&
         RE2::FullMatch(re2::StringPiece(value.data(), value.size()), *it->second);
}

bool Router::headerMatches(const v1::HeaderMatch& m, std::optional<std::string_view> value) {
  bool hit = false;
  switch (m.kind_case()) {
    case v1::HeaderMatch::kExact:
      hit = value && *value == m.exact();
      break;
    case v1::HeaderMatch::kPrefix:
      hit = value && startsWith(*value, m.prefix());
      break;
    case v1::HeaderMatch::kRegex:
      hit = value && regexMatches(m.regex(), *value);
      break;
    case v1::HeaderMatch::kPresent:
      hit = value.has_value() == m.present();
      break;
    default:
      hit = value.has_value();
      break;
  }
  return hit != m.invert();
}

MatchMismatch Router::mismatch(const v1::HttpMatch& m, const RouteInput& in) {
  using C = MatchMismatch::Criterion;
  const bool icase = m.ignore_uri_case();
  switch (m.uri_case()) {
    case v1::HttpMatch::kUriExact:
      if (!(icase ? iequals(in.path, m.uri_exact()) : in.path == m.uri_exact())) return {C::kUri};
      break;
    case v1::HttpMatch::kUriPrefix:
      if (in.path.size() < m.uri_prefix().size()) return {C::kUri};
      if (!(icase ? iequals(in.path.substr(0, m.uri_prefix().size()), m.uri_prefix())
                  : startsWith(in.path, m.uri_prefix())))
        return {C::kUri};
      break;
    case v1::HttpMatch::kUriRegex:
      if (!regexMatches(m.uri_regex(), in.path, icase)) return {C::kUri};
      break;
    default:
      break;
  }
  if (m.port() != 0 && m.port() != in.port) return {C::kPort};
  if (m.has_method()) {
    const auto& mm = m.method();
    if (mm.kind_case() == v1::StringMatch::kExact && in.method != mm.exact()) return {C::kMethod};
    if (mm.kind_case() == v1::StringMatch::kPrefix && !startsWith(in.method, mm.prefix())) {
      return {C::kMethod};
    }
  }
  for (int i = 0; i < m.headers_size(); ++i) {
    const auto& h = m.headers(i);
    auto value = in.headers ? in.headers->get(h.name()) : std::nullopt;
    if (!headerMatches(h, value)) return {C::kHeader, i};
  }
  for (int i = 0; i < m.query_params_size(); ++i) {
    const auto& q = m.query_params(i);
    if (!headerMatches(q, queryParam(in.query, q.name()))) return {C::kQueryParam, i};
  }
  return {};
}

const v1::RouteDestination* Router::pickDestination(const v1::HttpRoute& route) {
  if (route.destinations().empty()) return nullptr;
  uint64_t total = 0;
  for (const auto& d : route.destinations()) total += d.weight();
  if (total == 0)
    return &route.destinations(static_cast<int>(random_() % route.destinations_size()));
  uint64_t point = random_() % total;
  for (const auto& d : route.destinations()) {
    if (point < d.weight()) return &d;
    point -= d.weight();
  }
  return &route.destinations(route.destinations_size() - 1);
}

std::optional<std::vector<const v1::Workload*>> subsetEndpoints(const MeshIndex& index,
                                                                const v1::Service& service,
                                                                const std::string& subset,
                                                                const v1::ServicePort* port) {
  const google::protobuf::Map<std::string, std::string>* labels = nullptr;
  if (!subset.empty()) {
    labels = index.subsetLabels(service.hostname(), subset);
    if (!labels) return std::nullopt;
  }
  std::vector<const v1::Workload*> eps;
  for (const auto& uid : service.endpoints()) {
    const v1::Workload* w = index.workloadByUid(uid);
    if (w && !w->addresses().empty() && (!labels || labelsSelect(*labels, *w)) &&
        config::servesPort(port, *w)) {
      eps.push_back(w);
    }
  }
  return config::preferReady(std::move(eps));
}

namespace {
const std::string kNoSubset;  // every endpoint of the service (outlives the endpoint cache's keys)
}  // namespace

void Router::fillEndpoints(const MeshIndex& index, const v1::Service& service,
                           const std::string& subset, RouteDecision& out) {
  if (index.serial() != candidates_serial_) {
    candidates_.clear();
    candidates_serial_ = index.serial();
  }
  const CandidateKey key{&service, out.service_port, subset};
  auto cached = candidates_.find(key);
  if (cached == candidates_.end()) {
    cached =
        candidates_.emplace(key, subsetEndpoints(index, service, subset, out.service_port)).first;
  }
  const auto& candidates = cached->second;
  if (!candidates) {
    out.direct_status = 503;
    out.reason = "subset not defined by a DestinationRule";
    return;
  }
  std::vector<const v1::Workload*> eps = *candidates;
  if (eps.empty()) {
    out.direct_status = 503;
    out.reason = "no healthy upstream";
    return;
  }
  if (const v1::TrafficPolicy* policy = index.trafficPolicy(service.hostname())) {
    outliers_.filter(service.hostname(), *policy, eps);
  }
  orderEndpoints(index, service.hostname(), subset, eps);
  out.endpoints = std::move(eps);
}

// Puts the chosen endpoint first; the rest follow in round-robin order (retries use them).
void Router::orderEndpoints(const MeshIndex& index, const std::string& host,
                            const std::string& subset, std::vector<const v1::Workload*>& eps) {
  const std::pair<std::string_view, std::string_view> key(host, subset);
  auto it = round_robin_.find(key);
  if (it == round_robin_.end()) it = round_robin_.emplace(std::pair(host, subset), 0).first;
  uint64_t& next = it->second;
  std::rotate(eps.begin(), eps.begin() + static_cast<long>(next++ % eps.size()), eps.end());
  const v1::TrafficPolicy* policy = index.trafficPolicy(host);
  const std::string lb = policy ? policy->lb_policy() : "";
  if (eps.size() < 2 || (lb != "LEAST_REQUEST" && lb != "RANDOM")) return;
  size_t pick = random_() % eps.size();
  if (lb == "LEAST_REQUEST" && load_) {
    size_t other = (pick + 1 + random_() % (eps.size() - 1)) % eps.size();
    if (load_(*eps[other]) < load_(*eps[pick])) pick = other;
  }
  std::rotate(eps.begin(), eps.begin() + static_cast<long>(pick), eps.end());
}

void Router::recordOutcome(const MeshIndex& index, const v1::Service& service,
                           const v1::Workload& endpoint, bool failed) {
  if (const v1::TrafficPolicy* policy = index.trafficPolicy(service.hostname())) {
    outliers_.record(service.hostname(), *policy, endpoint,
                     static_cast<size_t>(service.endpoints_size()), failed);
  }
}

RouteDecision Router::route(const MeshIndex& index, const v1::Service& service,
                            const RouteInput& in, RouteTrace* trace) {
  RouteDecision out;
  out.service = &service;
  out.service_port = portEntry(service, in.port);
  out.target_port = targetPortFor(service, in.port);
  const v1::RouteTable* table = index.routeTableFor(service);
  if (trace) trace->table = table;
  if (!table) {
    fillEndpoints(index, service, kNoSubset, out);
    return out;
  }
  for (int i = 0; i < table->http_size(); ++i) {
    const v1::HttpRoute& r = table->http(i);
    RouteTrace::Route* traced = trace ? &trace->routes.emplace_back() : nullptr;
    if (traced) traced->index = i;
    bool hit = r.matches().empty();
    for (const auto& m : r.matches()) {
      if (hit) break;
      const MatchMismatch why = mismatch(m, in);
      if (traced) traced->matches.push_back(why);
      if (why.matched()) {
        hit = true;
        out.match = &m;
      }
    }
    if (!hit) continue;
    if (traced) traced->matched = true;
    out.route = &r;
    if (r.has_redirect() || r.destinations().empty()) return out;  // answered by the proxy
    const v1::RouteDestination* d = pickDestination(r);
    out.destination = d;
    const v1::Service* dest = d->host().empty() ? &service : index.serviceByHost(d->host());
    if (!dest) {
      out.direct_status = 503;
      out.reason = "route destination host is not a known service";
      return out;
    }
    out.service = dest;
    out.subset = d->subset();
    out.service_port = portEntry(*dest, d->port() ? d->port() : in.port);
    out.target_port = targetPortFor(*dest, d->port() ? d->port() : in.port);
    fillEndpoints(index, *dest, d->subset(), out);
    return out;
  }
  out.direct_status = 404;
  out.reason = "no route matched";
  return out;
}

}  // namespace ambit::waypoint
