// Istio VirtualService and DestinationRule translation.
#include <fmt/format.h>

#include "common/config/loader.h"
#include "common/config/model.h"
#include "common/config/validators.h"

namespace ambit::config {
namespace {

// {exact|prefix|regex: value}; returns false when the matcher is malformed (error recorded).
struct UriMatch {
  std::string kind;
  std::string value;
};

std::optional<UriMatch> readStringMatch(TranslateContext& ctx, const YAML::Node& m,
                                        const std::string& path) {
  if (!ctx.reader.checkFields(m, path, {"exact", "prefix", "regex"})) return std::nullopt;
  if (!isMap(m) || m.size() == 0) return UriMatch{"present", ""};
  if (m.size() > 1) {
    ctx.reader.fail(m, fmt::format("{}: set exactly one of exact, prefix, regex", path));
    return std::nullopt;
  }
  const std::string kind = m.begin()->first.Scalar();
  const auto value = ctx.reader.str(m, kind, path);
  if (!value) return std::nullopt;
  if (kind == "regex") {
    if (auto bad = checkRegex(*value)) {
      ctx.reader.fail(child(m, kind), fmt::format("{}.regex: {}", path, *bad));
      return std::nullopt;
    }
  }
  return UriMatch{kind, *value};
}

void readHeaderMatches(TranslateContext& ctx, const YAML::Node& match, std::string_view key,
                       const std::string& path, bool invert,
                       google::protobuf::RepeatedPtrField<v1::HeaderMatch>* out) {
  if (!isMap(match)) return;
  const YAML::Node map = child(match, std::string(key));
  if (!present(map)) return;
  const std::string base = fieldPath(path, key);
  if (!isMap(map)) {
    ctx.reader.fail(map, fmt::format("{}: must be a map of name to match", base));
    return;
  }
  for (auto it = map.begin(); it != map.end(); ++it) {
    const std::string name = it->first.Scalar();
    const auto m = readStringMatch(ctx, it->second, fieldPath(base, name));
    if (!m) continue;
    v1::HeaderMatch* h = out->Add();
    h->set_name(name);
    h->set_invert(invert);
    if (m->kind == "exact") h->set_exact(m->value);
    if (m->kind == "prefix") h->set_prefix(m->value);
    if (m->kind == "regex") h->set_regex(m->value);
    if (m->kind == "present") h->set_present(true);
  }
}

v1::HttpMatch readMatch(TranslateContext& ctx, const YAML::Node& m, const std::string& p) {
  v1::HttpMatch out;
  ctx.reader.checkFields(m, p,
                         {"name", "uri", "method", "headers", "queryParams", "ignoreUriCase",
                          "port", "withoutHeaders"});
  out.set_name(ctx.reader.str(m, "name", p).value_or(""));
  if (isMap(m) && present(child(m, "uri"))) {
    if (auto u = readStringMatch(ctx, child(m, "uri"), fieldPath(p, "uri"))) {
      if (u->kind == "exact") out.set_uri_exact(u->value);
      if (u->kind == "prefix") out.set_uri_prefix(u->value);
      if (u->kind == "regex") out.set_uri_regex(u->value);
    }
  }
  if (isMap(m) && present(child(m, "method"))) {
    const auto mm = readStringMatch(ctx, child(m, "method"), fieldPath(p, "method"));
    if (mm && mm->kind == "regex") {
      ctx.reader.fail(child(m, "method"),
                      fmt::format("{}.method: regex is not supported, use exact "
                                  "or prefix",
                                  p));
    } else if (mm && mm->kind == "exact") {
      out.mutable_method()->set_exact(mm->value);
    } else if (mm && mm->kind == "prefix") {
      out.mutable_method()->set_prefix(mm->value);
    }
  }
  readHeaderMatches(ctx, m, "headers", p, false, out.mutable_headers());
  readHeaderMatches(ctx, m, "withoutHeaders", p, true, out.mutable_headers());
  readHeaderMatches(ctx, m, "queryParams", p, false, out.mutable_query_params());
  out.set_ignore_uri_case(ctx.reader.boolean(m, "ignoreUriCase", p).value_or(false));
  out.set_port(static_cast<uint32_t>(ctx.reader.integer(m, "port", p, 1, 65535).value_or(0)));
  return out;
}

void readHeaderOpsSide(TranslateContext& ctx, const YAML::Node& side, const std::string& p,
                       google::protobuf::Map<std::string, std::string>* set,
                       google::protobuf::Map<std::string, std::string>* add,
                       google::protobuf::RepeatedPtrField<std::string>* remove) {
  if (!ctx.reader.checkFields(side, p, {"set", "add", "remove"})) return;
  for (const auto& [k, v] : ctx.reader.stringMap(side, "set", p)) (*set)[k] = v;
  for (const auto& [k, v] : ctx.reader.stringMap(side, "add", p)) (*add)[k] = v;
  for (const auto& r : ctx.reader.stringList(side, "remove", p)) *remove->Add() = r;
}

v1::HeaderOps readHeaderOps(TranslateContext& ctx, const YAML::Node& h, const std::string& p) {
  v1::HeaderOps out;
  if (!ctx.reader.checkFields(h, p, {"request", "response"}) || !isMap(h)) return out;
  readHeaderOpsSide(ctx, child(h, "request"), fieldPath(p, "request"), out.mutable_request_set(),
                    out.mutable_request_add(), out.mutable_request_remove());
  readHeaderOpsSide(ctx, child(h, "response"), fieldPath(p, "response"), out.mutable_response_set(),
                    out.mutable_response_add(), out.mutable_response_remove());
  return out;
}

std::optional<uint32_t> readDuration(TranslateContext& ctx, const YAML::Node& map,
                                     std::string_view key, const std::string& p) {
  const auto text = ctx.reader.str(map, key, p);
  if (!text) return std::nullopt;
  const auto ms = parseDurationMs(*text);
  if (!ms) {
    ctx.reader.fail(child(map, std::string(key)),
                    fmt::format("{}: invalid duration '{}', expected e.g. 2s, 100ms, 1m30s",
                                fieldPath(p, key), *text));
  }
  return ms;
}

// One weighted destination; returns its weight when given.
std::optional<int64_t> readDestination(TranslateContext& ctx, const YAML::Node& r,
                                       const std::string& p, v1::HttpRoute& route) {
  std::optional<int64_t> weight;
  if (!ctx.reader.checkFields(r, p, {"destination", "weight", "headers"})) return weight;
  v1::RouteDestination* d = route.add_destinations();
  const YAML::Node dest = ctx.reader.object(r, "destination", p, {"host", "subset", "port"});
  if (!present(dest)) ctx.reader.fail(r, fmt::format("missing required field {}.destination", p));
  const std::string dp = fieldPath(p, "destination");
  if (auto host = ctx.reader.str(dest, "host", dp, present(dest))) d->set_host(ctx.host(*host));
  d->set_subset(ctx.reader.str(dest, "subset", dp).value_or(""));
  if (!d->subset().empty()) {
    ctx.model.subset_refs.push_back(
        SubsetRef{d->host(), d->subset(), child(dest, "subset"), &ctx.res});
  }
  const YAML::Node port = ctx.reader.object(dest, "port", dp, {"number"});
  d->set_port(static_cast<uint32_t>(
      ctx.reader.integer(port, "number", fieldPath(dp, "port"), 1, 65535).value_or(0)));
  weight = ctx.reader.integer(r, "weight", p, 0, 100);
  if (isMap(r) && present(child(r, "headers"))) {
    *d->mutable_headers() = readHeaderOps(ctx, child(r, "headers"), fieldPath(p, "headers"));
  }
  return weight;
}

void readRouteDestinations(TranslateContext& ctx, const YAML::Node& h, const std::string& p,
                           v1::HttpRoute& route) {
  const auto dests = ctx.reader.list(h, "route", p);
  int64_t sum = 0;
  size_t weighted = 0;
  for (size_t i = 0; i < dests.size(); ++i) {
    if (auto w = readDestination(ctx, dests[i], fieldPath(fieldPath(p, "route"), i), route)) {
      sum += *w;
      route.mutable_destinations(route.destinations_size() - 1)->set_weight(*w);
      ++weighted;
    }
  }
  if (route.destinations_size() == 1 && weighted == 0) {
    route.mutable_destinations(0)->set_weight(100);
  } else if (route.destinations_size() > 0 && sum != 100) {
    ctx.reader.fail(child(h, "route"),
                    fmt::format("{}.route: route weights sum to {}, must be 100", p, sum));
  }
}

void readRedirectRewrite(TranslateContext& ctx, const YAML::Node& h, const std::string& p,
                         v1::HttpRoute& route) {
  const YAML::Node rd = ctx.reader.object(
      h, "redirect", p, {"uri", "authority", "port", "scheme", "redirectCode", "derivePort"});
  if (present(rd)) {
    const std::string rp = fieldPath(p, "redirect");
    v1::Redirect* r = route.mutable_redirect();
    r->set_uri(ctx.reader.str(rd, "uri", rp).value_or(""));
    r->set_authority(ctx.reader.str(rd, "authority", rp).value_or(""));
    r->set_port(static_cast<uint32_t>(ctx.reader.integer(rd, "port", rp, 1, 65535).value_or(0)));
    r->set_scheme(ctx.reader.str(rd, "scheme", rp).value_or(""));
    r->set_redirect_code(
        static_cast<uint32_t>(ctx.reader.integer(rd, "redirectCode", rp, 300, 399).value_or(301)));
  }
  const YAML::Node rw = ctx.reader.object(h, "rewrite", p, {"uri", "authority", "uriRegexRewrite"});
  if (present(rw)) {
    const std::string rp = fieldPath(p, "rewrite");
    v1::Rewrite* r = route.mutable_rewrite();
    r->set_uri(ctx.reader.str(rw, "uri", rp).value_or(""));
    r->set_authority(ctx.reader.str(rw, "authority", rp).value_or(""));
    const YAML::Node rx = ctx.reader.object(rw, "uriRegexRewrite", rp, {"match", "rewrite"});
    const std::string xp = fieldPath(rp, "uriRegexRewrite");
    if (auto m = ctx.reader.str(rx, "match", xp, present(rx))) {
      if (auto bad = checkRegex(*m))
        ctx.reader.fail(child(rx, "match"), fmt::format("{}.match: {}", xp, *bad));
      r->set_uri_regex(*m);
    }
    r->set_uri_regex_substitution(ctx.reader.str(rx, "rewrite", xp).value_or(""));
  }
}

void readRetriesTimeout(TranslateContext& ctx, const YAML::Node& h, const std::string& p,
                        v1::HttpRoute& route) {
  const YAML::Node rt = ctx.reader.object(
      h, "retries", p, {"attempts", "perTryTimeout", "retryOn", "retryRemoteLocalities"});
  if (present(rt)) {
    const std::string rp = fieldPath(p, "retries");
    v1::RetryPolicy* r = route.mutable_retries();
    r->set_attempts(
        static_cast<uint32_t>(ctx.reader.integer(rt, "attempts", rp, 0, 1000).value_or(0)));
    r->set_per_try_timeout_ms(readDuration(ctx, rt, "perTryTimeout", rp).value_or(0));
    for (const auto& on : splitCommaList(ctx.reader.str(rt, "retryOn", rp).value_or(""))) {
      r->add_retry_on(on);
    }
    ctx.reader.boolean(rt, "retryRemoteLocalities", rp);
  }
  route.set_timeout_ms(readDuration(ctx, h, "timeout", p).value_or(0));
}

double readPercentage(TranslateContext& ctx, const YAML::Node& m, const std::string& p) {
  const YAML::Node pct = ctx.reader.object(m, "percentage", p, {"value"});
  if (present(pct)) {
    return ctx.reader.number(pct, "value", fieldPath(p, "percentage"), 0, 100).value_or(0);
  }
  return static_cast<double>(ctx.reader.integer(m, "percent", p, 0, 100).value_or(100));
}

void readFault(TranslateContext& ctx, const YAML::Node& h, const std::string& p,
               v1::HttpRoute& route) {
  const YAML::Node f = ctx.reader.object(h, "fault", p, {"delay", "abort"});
  if (!present(f)) return;
  const std::string fp = fieldPath(p, "fault");
  v1::FaultInjection* out = route.mutable_fault();
  const YAML::Node d = ctx.reader.object(f, "delay", fp, {"fixedDelay", "percentage", "percent"});
  if (present(d)) {
    const std::string dp = fieldPath(fp, "delay");
    if (!present(child(d, "fixedDelay")))
      ctx.reader.fail(d, fmt::format("missing required field {}.fixedDelay", dp));
    out->set_delay_ms(readDuration(ctx, d, "fixedDelay", dp).value_or(0));
    out->set_delay_percent(readPercentage(ctx, d, dp));
  }
  const YAML::Node a =
      ctx.reader.object(f, "abort", fp, {"httpStatus", "percentage", "grpcStatus"});
  if (present(a)) {
    const std::string ap = fieldPath(fp, "abort");
    out->set_abort_status(
        static_cast<uint32_t>(ctx.reader.integer(a, "httpStatus", ap, 200, 599, true).value_or(0)));
    out->set_abort_percent(readPercentage(ctx, a, ap));
  }
}

v1::HttpRoute readHttp(TranslateContext& ctx, const YAML::Node& h, const std::string& p) {
  v1::HttpRoute route;
  if (!ctx.reader.checkFields(h, p,
                              {"name", "match", "route", "redirect", "rewrite", "retries",
                               "timeout", "fault", "headers"})) {
    return route;
  }
  route.set_name(ctx.reader.str(h, "name", p).value_or(""));
  const auto matches = ctx.reader.list(h, "match", p);
  for (size_t i = 0; i < matches.size(); ++i) {
    *route.add_matches() = readMatch(ctx, matches[i], fieldPath(fieldPath(p, "match"), i));
  }
  readRouteDestinations(ctx, h, p, route);
  readRedirectRewrite(ctx, h, p, route);
  if (route.destinations_size() == 0 && !route.has_redirect()) {
    ctx.reader.fail(h, fmt::format("{}: needs route or redirect", p));
  }
  readRetriesTimeout(ctx, h, p, route);
  readFault(ctx, h, p, route);
  if (present(child(h, "headers")))
    *route.mutable_headers() = readHeaderOps(ctx, child(h, "headers"), fieldPath(p, "headers"));
  return route;
}

}  // namespace

void translateVirtualService(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec", {"hosts", "gateways", "http", "tcp", "tls", "exportTo"});
  for (const char* unsupported : {"tcp", "tls"}) {
    if (isMap(spec) && present(child(spec, unsupported))) {
      ctx.reader.fail(child(spec, unsupported),
                      fmt::format("spec.{}: {} routes are not supported yet; "
                                  "use http",
                                  unsupported, unsupported));
    }
  }
  v1::RouteTable table;
  table.set_name(ctx.res.name);
  table.set_namespace_(ctx.res.ns);
  table.set_origin_kind("VirtualService");
  const auto hosts = ctx.reader.stringList(spec, "hosts", "spec");
  if (hosts.empty()) ctx.reader.fail(spec, "missing required field spec.hosts");
  for (const auto& h : hosts) table.add_hosts(ctx.host(h));
  ctx.reader.stringList(spec, "gateways", "spec");
  ctx.reader.stringList(spec, "exportTo", "spec");
  const auto http = ctx.reader.list(spec, "http", "spec");
  for (size_t i = 0; i < http.size(); ++i) {
    *table.add_http() = readHttp(ctx, http[i], fieldPath("spec.http", i));
  }
  ctx.model.route_tables.push_back({std::move(table), &ctx.res});
}

namespace {

v1::TrafficPolicy readTrafficPolicy(TranslateContext& ctx, const YAML::Node& tp,
                                    const std::string& p) {
  v1::TrafficPolicy out;
  if (!ctx.reader.checkFields(tp, p,
                              {"loadBalancer", "connectionPool", "outlierDetection", "tls",
                               "portLevelSettings", "tunnel", "proxyProtocol"})) {
    return out;
  }
  const YAML::Node lb =
      ctx.reader.object(tp, "loadBalancer", p,
                        {"simple", "consistentHash", "localityLbSetting", "warmupDurationSecs"});
  if (auto simple = ctx.reader.str(lb, "simple", fieldPath(p, "loadBalancer"))) {
    static const char* kKnown[] = {"UNSPECIFIED", "ROUND_ROBIN", "LEAST_REQUEST",
                                   "LEAST_CONN",  "RANDOM",      "PASSTHROUGH"};
    if (std::find(std::begin(kKnown), std::end(kKnown), *simple) == std::end(kKnown)) {
      ctx.reader.fail(child(lb, "simple"),
                      fmt::format("{}.loadBalancer.simple: unknown policy '{}'", p, *simple));
    }
    out.set_lb_policy(*simple == "LEAST_CONN" ? "LEAST_REQUEST" : *simple);
  }
  const YAML::Node od =
      ctx.reader.object(tp, "outlierDetection", p,
                        {"consecutive5xxErrors", "consecutiveGatewayErrors", "consecutiveErrors",
                         "interval", "baseEjectionTime", "maxEjectionPercent", "minHealthPercent",
                         "splitExternalLocalOriginErrors", "consecutiveLocalOriginFailures"});
  const std::string op = fieldPath(p, "outlierDetection");
  if (!od.IsDefined() || od.IsNull()) return out;
  // Istio's defaults: 5 consecutive errors, 30 s base ejection, at most 10% ejected.
  out.set_outlier_detection(true);
  out.set_outlier_consecutive_5xx(static_cast<uint32_t>(
      ctx.reader.integer(od, "consecutive5xxErrors", op, 0, 1000000).value_or(5)));
  out.set_outlier_ejection_ms(readDuration(ctx, od, "baseEjectionTime", op).value_or(30000));
  out.set_outlier_max_ejection_percent(
      static_cast<uint32_t>(ctx.reader.integer(od, "maxEjectionPercent", op, 0, 100).value_or(10)));
  out.set_outlier_min_health_percent(
      static_cast<uint32_t>(ctx.reader.integer(od, "minHealthPercent", op, 0, 100).value_or(0)));
  readDuration(ctx, od, "interval", op);
  return out;
}

}  // namespace

void translateDestinationRule(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec",
                         {"host", "subsets", "trafficPolicy", "exportTo", "workloadSelector"});
  v1::DestinationPolicy dp;
  dp.set_name(ctx.res.name);
  dp.set_namespace_(ctx.res.ns);
  if (auto host = ctx.reader.str(spec, "host", "spec", true)) dp.set_host(ctx.host(*host));
  if (isMap(spec) && present(child(spec, "trafficPolicy"))) {
    *dp.mutable_traffic_policy() =
        readTrafficPolicy(ctx, child(spec, "trafficPolicy"), "spec.trafficPolicy");
  }
  const auto subsets = ctx.reader.list(spec, "subsets", "spec");
  for (size_t i = 0; i < subsets.size(); ++i) {
    const std::string sp = fieldPath("spec.subsets", i);
    if (!ctx.reader.checkFields(subsets[i], sp, {"name", "labels", "trafficPolicy"})) continue;
    v1::Subset s;
    s.set_name(ctx.reader.str(subsets[i], "name", sp, true).value_or(""));
    for (const auto& other : dp.subsets()) {
      if (!s.name().empty() && other.name() == s.name()) {
        ctx.reader.fail(child(subsets[i], "name"),
                        fmt::format("{}: duplicate subset '{}'", sp, s.name()));
      }
    }
    const auto labels = readSelector(ctx, subsets[i], "labels", sp);
    s.mutable_labels()->insert(labels.begin(), labels.end());
    if (present(child(subsets[i], "trafficPolicy"))) {
      readTrafficPolicy(ctx, child(subsets[i], "trafficPolicy"), fieldPath(sp, "trafficPolicy"));
    }
    *dp.add_subsets() = std::move(s);
  }
  ctx.model.destination_policies.push_back({std::move(dp), &ctx.res});
}

}  // namespace ambit::config
