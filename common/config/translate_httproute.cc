// Gateway API HTTPRoute translation (the mesh, "GAMMA", profile: parentRefs to Services or
// to waypoint Gateways). Backend weights are relative, as in Gateway API: they need not sum to
// 100, and the waypoint picks proportionally.
#include <fmt/format.h>

#include <algorithm>

#include "common/config/loader.h"
#include "common/config/model.h"
#include "common/config/validators.h"

namespace ambit::config {
namespace {

void readParentRefs(TranslateContext& ctx, const YAML::Node& spec, v1::RouteTable& table) {
  const auto refs = ctx.reader.list(spec, "parentRefs", "spec");
  for (size_t i = 0; i < refs.size(); ++i) {
    const std::string p = fieldPath("spec.parentRefs", i);
    if (!ctx.reader.checkFields(refs[i], p,
                                {"group", "kind", "name", "namespace", "sectionName", "port"})) {
      continue;
    }
    const std::string kind = ctx.reader.str(refs[i], "kind", p).value_or("Gateway");
    const auto name = ctx.reader.str(refs[i], "name", p, true);
    const std::string ns = ctx.reader.str(refs[i], "namespace", p).value_or(ctx.res.ns);
    ctx.reader.integer(refs[i], "port", p, 1, 65535);
    if (!name) continue;
    table.add_parent_refs(fmt::format("{}/{}/{}", kind, ns, *name));
    if (kind == "Service") {
      table.add_hosts(fmt::format("{}.{}.svc.{}", *name, ns, ctx.options.cluster_domain));
    }
  }
}

void readKeyedMatches(TranslateContext& ctx, const YAML::Node& m, std::string_view key,
                      const std::string& p,
                      google::protobuf::RepeatedPtrField<v1::HeaderMatch>* out) {
  const auto items = ctx.reader.list(m, key, p);
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string hp = fieldPath(fieldPath(p, key), i);
    if (!ctx.reader.checkFields(items[i], hp, {"type", "name", "value"})) continue;
    const std::string type = ctx.reader.str(items[i], "type", hp).value_or("Exact");
    const auto name = ctx.reader.str(items[i], "name", hp, true);
    const auto value = ctx.reader.str(items[i], "value", hp, true);
    if (!name || !value) continue;
    v1::HeaderMatch* h = out->Add();
    h->set_name(*name);
    if (type == "Exact") {
      h->set_exact(*value);
    } else if (type == "RegularExpression") {
      if (auto bad = checkRegex(*value))
        ctx.reader.fail(child(items[i], "value"), fmt::format("{}.value: {}", hp, *bad));
      h->set_regex(*value);
    } else {
      ctx.reader.fail(child(items[i], "type"),
                      fmt::format("{}.type: unknown match type '{}', expected "
                                  "Exact or RegularExpression",
                                  hp, type));
    }
  }
}

void readPathMatch(TranslateContext& ctx, const YAML::Node& m, const std::string& p,
                   v1::HttpMatch& out) {
  const YAML::Node path = ctx.reader.object(m, "path", p, {"type", "value"});
  const std::string pp = fieldPath(p, "path");
  const std::string type = ctx.reader.str(path, "type", pp).value_or("PathPrefix");
  const std::string value = ctx.reader.str(path, "value", pp).value_or("/");
  if (type == "Exact") {
    out.set_uri_exact(value);
  } else if (type == "PathPrefix") {
    out.set_uri_prefix(value);
  } else if (type == "RegularExpression") {
    if (auto bad = checkRegex(value))
      ctx.reader.fail(child(path, "value"), fmt::format("{}.value: {}", pp, *bad));
    out.set_uri_regex(value);
  } else {
    ctx.reader.fail(child(path, "type"),
                    fmt::format("{}.type: unknown path match type '{}', expected "
                                "Exact, PathPrefix or RegularExpression",
                                pp, type));
  }
}

v1::HttpMatch readMatch(TranslateContext& ctx, const YAML::Node& m, const std::string& p) {
  v1::HttpMatch out;
  if (!ctx.reader.checkFields(m, p, {"path", "headers", "queryParams", "method"})) return out;
  readPathMatch(ctx, m, p, out);
  readKeyedMatches(ctx, m, "headers", p, out.mutable_headers());
  readKeyedMatches(ctx, m, "queryParams", p, out.mutable_query_params());
  if (auto method = ctx.reader.str(m, "method", p)) {
    static const char* kMethods[] = {"GET",     "HEAD",    "POST",  "PUT",  "DELETE",
                                     "CONNECT", "OPTIONS", "TRACE", "PATCH"};
    if (std::find(std::begin(kMethods), std::end(kMethods), *method) == std::end(kMethods)) {
      ctx.reader.fail(child(m, "method"),
                      fmt::format("{}.method: unknown HTTP method '{}'", p, *method));
    }
    out.mutable_method()->set_exact(*method);
  }
  return out;
}

void readHeaderModifier(TranslateContext& ctx, const YAML::Node& mod, const std::string& p,
                        google::protobuf::Map<std::string, std::string>* set,
                        google::protobuf::Map<std::string, std::string>* add,
                        google::protobuf::RepeatedPtrField<std::string>* remove) {
  if (!ctx.reader.checkFields(mod, p, {"set", "add", "remove"})) return;
  for (auto [key, target] : {std::pair{"set", set}, std::pair{"add", add}}) {
    const auto items = ctx.reader.list(mod, key, p);
    for (size_t i = 0; i < items.size(); ++i) {
      const std::string ip = fieldPath(fieldPath(p, key), i);
      if (!ctx.reader.checkFields(items[i], ip, {"name", "value"})) continue;
      const auto name = ctx.reader.str(items[i], "name", ip, true);
      const auto value = ctx.reader.str(items[i], "value", ip, true);
      if (name && value) (*target)[*name] = *value;
    }
  }
  for (const auto& r : ctx.reader.stringList(mod, "remove", p)) *remove->Add() = r;
}

void readRedirect(TranslateContext& ctx, const YAML::Node& f, const std::string& p,
                  v1::HttpRoute& route) {
  const YAML::Node rd = ctx.reader.object(f, "requestRedirect", p,
                                          {"scheme", "hostname", "path", "port", "statusCode"});
  if (!present(rd)) return;
  const std::string rp = fieldPath(p, "requestRedirect");
  v1::Redirect* r = route.mutable_redirect();
  r->set_scheme(ctx.reader.str(rd, "scheme", rp).value_or(""));
  r->set_authority(ctx.reader.str(rd, "hostname", rp).value_or(""));
  r->set_port(static_cast<uint32_t>(ctx.reader.integer(rd, "port", rp, 1, 65535).value_or(0)));
  r->set_redirect_code(
      static_cast<uint32_t>(ctx.reader.integer(rd, "statusCode", rp, 300, 399).value_or(302)));
  const YAML::Node path =
      ctx.reader.object(rd, "path", rp, {"type", "replaceFullPath", "replacePrefixMatch"});
  const std::string pp = fieldPath(rp, "path");
  r->set_uri(ctx.reader.str(path, "replaceFullPath", pp)
                 .value_or(ctx.reader.str(path, "replacePrefixMatch", pp).value_or("")));
}

void readUrlRewrite(TranslateContext& ctx, const YAML::Node& f, const std::string& p,
                    v1::HttpRoute& route) {
  const YAML::Node rw = ctx.reader.object(f, "urlRewrite", p, {"hostname", "path"});
  if (!present(rw)) return;
  const std::string rp = fieldPath(p, "urlRewrite");
  v1::Rewrite* r = route.mutable_rewrite();
  r->set_authority(ctx.reader.str(rw, "hostname", rp).value_or(""));
  const YAML::Node path =
      ctx.reader.object(rw, "path", rp, {"type", "replaceFullPath", "replacePrefixMatch"});
  const std::string pp = fieldPath(rp, "path");
  if (auto full = ctx.reader.str(path, "replaceFullPath", pp)) {
    r->set_uri_regex("^.*$");
    r->set_uri_regex_substitution(*full);
  }
  r->set_uri(ctx.reader.str(path, "replacePrefixMatch", pp).value_or(""));
}

void readFilter(TranslateContext& ctx, const YAML::Node& f, const std::string& p,
                v1::HttpRoute& route, v1::HeaderOps& ops) {
  if (!ctx.reader.checkFields(f, p,
                              {"type", "requestHeaderModifier", "responseHeaderModifier",
                               "requestRedirect", "urlRewrite"})) {
    return;
  }
  const auto type = ctx.reader.str(f, "type", p, true);
  if (!type) return;
  if (*type == "RequestHeaderModifier") {
    readHeaderModifier(ctx, child(f, "requestHeaderModifier"),
                       fieldPath(p, "requestHeaderModifier"), ops.mutable_request_set(),
                       ops.mutable_request_add(), ops.mutable_request_remove());
  } else if (*type == "ResponseHeaderModifier") {
    readHeaderModifier(ctx, child(f, "responseHeaderModifier"),
                       fieldPath(p, "responseHeaderModifier"), ops.mutable_response_set(),
                       ops.mutable_response_add(), ops.mutable_response_remove());
  } else if (*type == "RequestRedirect") {
    readRedirect(ctx, f, p, route);
  } else if (*type == "URLRewrite") {
    readUrlRewrite(ctx, f, p, route);
  } else {
    ctx.reader.fail(child(f, "type"),
                    fmt::format("{}.type: unsupported filter type '{}'", p, *type));
  }
}

void readBackendRef(TranslateContext& ctx, const YAML::Node& b, const std::string& p,
                    v1::HttpRoute& route) {
  if (!ctx.reader.checkFields(
          b, p, {"group", "kind", "name", "namespace", "port", "weight", "filters"})) {
    return;
  }
  const std::string kind = ctx.reader.str(b, "kind", p).value_or("Service");
  const auto name = ctx.reader.str(b, "name", p, true);
  const std::string ns = ctx.reader.str(b, "namespace", p).value_or(ctx.res.ns);
  const auto port = ctx.reader.integer(b, "port", p, 1, 65535, kind == "Service");
  const auto weight = ctx.reader.integer(b, "weight", p, 0, 1000000).value_or(1);
  if (!name) return;
  v1::RouteDestination* d = route.add_destinations();
  d->set_host(kind == "Service" ? fmt::format("{}.{}.svc.{}", *name, ns, ctx.options.cluster_domain)
                                : *name);
  d->set_port(static_cast<uint32_t>(port.value_or(0)));
  d->set_weight(static_cast<uint32_t>(weight));
  const auto filters = ctx.reader.list(b, "filters", p);
  for (size_t i = 0; i < filters.size(); ++i) {
    readFilter(ctx, filters[i], fieldPath(fieldPath(p, "filters"), i), route,
               *d->mutable_headers());
  }
}

v1::HttpRoute readRule(TranslateContext& ctx, const YAML::Node& r, const std::string& p) {
  v1::HttpRoute route;
  if (!ctx.reader.checkFields(r, p, {"name", "matches", "filters", "backendRefs", "timeouts"})) {
    return route;
  }
  route.set_name(ctx.reader.str(r, "name", p).value_or(""));
  const auto matches = ctx.reader.list(r, "matches", p);
  for (size_t i = 0; i < matches.size(); ++i) {
    *route.add_matches() = readMatch(ctx, matches[i], fieldPath(fieldPath(p, "matches"), i));
  }
  const auto filters = ctx.reader.list(r, "filters", p);
  for (size_t i = 0; i < filters.size(); ++i) {
    readFilter(ctx, filters[i], fieldPath(fieldPath(p, "filters"), i), route,
               *route.mutable_headers());
  }
  const auto backends = ctx.reader.list(r, "backendRefs", p);
  for (size_t i = 0; i < backends.size(); ++i) {
    readBackendRef(ctx, backends[i], fieldPath(fieldPath(p, "backendRefs"), i), route);
  }
  const YAML::Node t = ctx.reader.object(r, "timeouts", p, {"request", "backendRequest"});
  if (auto text = ctx.reader.str(t, "request", fieldPath(p, "timeouts"))) {
    const auto ms = parseDurationMs(*text);
    if (!ms)
      ctx.reader.fail(child(t, "request"),
                      fmt::format("{}.timeouts.request: invalid duration '{}'", p, *text));
    route.set_timeout_ms(ms.value_or(0));
  }
  return route;
}

}  // namespace

void translateHttpRoute(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec", {"parentRefs", "hostnames", "rules"});
  v1::RouteTable table;
  table.set_name(ctx.res.name);
  table.set_namespace_(ctx.res.ns);
  table.set_origin_kind("HTTPRoute");
  readParentRefs(ctx, spec, table);
  for (const auto& h : ctx.reader.stringList(spec, "hostnames", "spec")) table.add_hosts(h);
  const auto rules = ctx.reader.list(spec, "rules", "spec");
  for (size_t i = 0; i < rules.size(); ++i) {
    *table.add_http() = readRule(ctx, rules[i], fieldPath("spec.rules", i));
  }
  ctx.model.route_tables.push_back({std::move(table), &ctx.res});
}

}  // namespace ambit::config
