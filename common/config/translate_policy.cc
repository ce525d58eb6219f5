// AuthorizationPolicy, PeerAuthentication and RequestAuthentication translation.
#include <fmt/format.h>

#include <algorithm>

#include "common/config/loader.h"
#include "common/config/model.h"
#include "common/config/validators.h"

namespace ambit::config {
namespace {

using google::protobuf::RepeatedPtrField;

// when-keys the ztunnel evaluates at L4; any other key needs a waypoint.
bool isL4Key(const std::string& key) {
  static const char* kL4[] = {"source.ip", "source.namespace", "source.principal", "destination.ip",
                              "destination.port"};
  return std::find(std::begin(kL4), std::end(kL4), key) != std::end(kL4);
}

bool isKnownKey(const std::string& key) {
  static const char* kExact[] = {"source.ip",
                                 "source.namespace",
                                 "source.principal",
                                 "destination.ip",
                                 "destination.port",
                                 "remote.ip",
                                 "connection.sni",
                                 "request.auth.principal",
                                 "request.auth.audiences",
                                 "request.auth.presenter"};
  if (std::find(std::begin(kExact), std::end(kExact), key) != std::end(kExact)) return true;
  for (std::string_view p :
       {"request.headers[", "request.auth.claims[", "experimental.envoy.filters."}) {
    if (key.rfind(p, 0) == 0) return p.back() != '[' || key.back() == ']';
  }
  return false;
}

void readMatches(TranslateContext& ctx, const YAML::Node& map, std::string_view key,
                 std::string_view path, RepeatedPtrField<v1::StringMatch>* out, bool* used) {
  for (const auto& s : ctx.reader.stringList(map, key, path)) {
    *out->Add() = toStringMatch(s);
    *used = true;
  }
}

void readCidrs(TranslateContext& ctx, const YAML::Node& map, std::string_view key,
               std::string_view path, RepeatedPtrField<std::string>* out) {
  const auto items = ctx.reader.stringList(map, key, path);
  for (size_t i = 0; i < items.size(); ++i) {
    if (auto bad = checkCidr(items[i])) {
      ctx.reader.fail(child(map, std::string(key))[i],
                      fmt::format("{}: {}", fieldPath(path, key), *bad));
    } else {
      *out->Add() = items[i];
    }
  }
}

void readPorts(TranslateContext& ctx, const YAML::Node& map, std::string_view key,
               std::string_view path, google::protobuf::RepeatedField<uint32_t>* out) {
  const auto items = ctx.reader.list(map, key, path);
  for (size_t i = 0; i < items.size(); ++i) {
    if (auto p = ctx.reader.port(items[i], fieldPath(fieldPath(path, key), i))) out->Add(*p);
  }
}

v1::Source readSource(TranslateContext& ctx, const YAML::Node& s, const std::string& p, bool* l7) {
  v1::Source out;
  ctx.reader.checkFields(
      s, p,
      {"principals", "notPrincipals", "requestPrincipals", "notRequestPrincipals", "namespaces",
       "notNamespaces", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"});
  bool l4 = false;
  readMatches(ctx, s, "principals", p, out.mutable_principals(), &l4);
  readMatches(ctx, s, "notPrincipals", p, out.mutable_not_principals(), &l4);
  readMatches(ctx, s, "namespaces", p, out.mutable_namespaces(), &l4);
  readMatches(ctx, s, "notNamespaces", p, out.mutable_not_namespaces(), &l4);
  readMatches(ctx, s, "requestPrincipals", p, out.mutable_request_principals(), l7);
  readMatches(ctx, s, "notRequestPrincipals", p, out.mutable_not_request_principals(), l7);
  readCidrs(ctx, s, "ipBlocks", p, out.mutable_ip_blocks());
  readCidrs(ctx, s, "notIpBlocks", p, out.mutable_not_ip_blocks());
  readCidrs(ctx, s, "remoteIpBlocks", p, out.mutable_remote_ip_blocks());
  readCidrs(ctx, s, "notRemoteIpBlocks", p, out.mutable_not_remote_ip_blocks());
  if (out.remote_ip_blocks_size() + out.not_remote_ip_blocks_size() > 0) *l7 = true;
  return out;
}

v1::Operation readOperation(TranslateContext& ctx, const YAML::Node& o, const std::string& p,
                            bool* l7) {
  v1::Operation out;
  ctx.reader.checkFields(
      o, p,
      {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"});
  readMatches(ctx, o, "hosts", p, out.mutable_hosts(), l7);
  readMatches(ctx, o, "notHosts", p, out.mutable_not_hosts(), l7);
  readMatches(ctx, o, "methods", p, out.mutable_methods(), l7);
  readMatches(ctx, o, "notMethods", p, out.mutable_not_methods(), l7);
  readMatches(ctx, o, "paths", p, out.mutable_paths(), l7);
  readMatches(ctx, o, "notPaths", p, out.mutable_not_paths(), l7);
  readPorts(ctx, o, "ports", p, out.mutable_ports());
  readPorts(ctx, o, "notPorts", p, out.mutable_not_ports());
  return out;
}

v1::Condition readCondition(TranslateContext& ctx, const YAML::Node& w, const std::string& p,
                            bool* l7) {
  v1::Condition out;
  ctx.reader.checkFields(w, p, {"key", "values", "notValues"});
  const auto key = ctx.reader.str(w, "key", p, true);
  if (key && !isKnownKey(*key)) {
    ctx.reader.fail(child(w, "key"), fmt::format("{}.key: unknown condition key '{}'", p, *key));
  }
  if (key) {
    out.set_key(*key);
    if (!isL4Key(*key)) *l7 = true;
  }
  for (const auto& v : ctx.reader.stringList(w, "values", p)) out.add_values(v);
  for (const auto& v : ctx.reader.stringList(w, "notValues", p)) out.add_not_values(v);
  return out;
}

v1::Rule readRule(TranslateContext& ctx, const YAML::Node& r, const std::string& p, bool* l7) {
  v1::Rule out;
  if (!ctx.reader.checkFields(r, p, {"from", "to", "when"})) return out;
  const auto from = ctx.reader.list(r, "from", p);
  for (size_t i = 0; i < from.size(); ++i) {
    const std::string fp = fieldPath(fieldPath(p, "from"), i);
    ctx.reader.checkFields(from[i], fp, {"source"});
    const YAML::Node s = isMap(from[i]) ? child(from[i], "source") : YAML::Node();
    if (present(s)) *out.add_from() = readSource(ctx, s, fieldPath(fp, "source"), l7);
  }
  const auto to = ctx.reader.list(r, "to", p);
  for (size_t i = 0; i < to.size(); ++i) {
    const std::string tp = fieldPath(fieldPath(p, "to"), i);
    ctx.reader.checkFields(to[i], tp, {"operation"});
    const YAML::Node o = isMap(to[i]) ? child(to[i], "operation") : YAML::Node();
    if (present(o)) *out.add_to() = readOperation(ctx, o, fieldPath(tp, "operation"), l7);
  }
  const auto when = ctx.reader.list(r, "when", p);
  for (size_t i = 0; i < when.size(); ++i) {
    *out.add_when() = readCondition(ctx, when[i], fieldPath(fieldPath(p, "when"), i), l7);
  }
  return out;
}

// targetRef and targetRefs as "Kind/name".
void readTargetRefs(TranslateContext& ctx, const YAML::Node& spec,
                    RepeatedPtrField<std::string>* out) {
  std::vector<std::pair<YAML::Node, std::string>> refs;
  if (isMap(spec) && present(child(spec, "targetRef")))
    refs.emplace_back(child(spec, "targetRef"), "spec.targetRef");
  const auto list = ctx.reader.list(spec, "targetRefs", "spec");
  for (size_t i = 0; i < list.size(); ++i) {
    refs.emplace_back(list[i], fieldPath("spec.targetRefs", i));
  }
  for (const auto& [ref, path] : refs) {
    if (!ctx.reader.checkFields(ref, path, {"group", "kind", "name", "namespace"})) continue;
    const auto kind = ctx.reader.str(ref, "kind", path, true);
    const auto name = ctx.reader.str(ref, "name", path, true);
    if (kind && name) *out->Add() = fmt::format("{}/{}", *kind, *name);
  }
}

std::map<std::string, std::string> readWorkloadSelector(TranslateContext& ctx,
                                                        const YAML::Node& spec) {
  const YAML::Node sel = ctx.reader.object(spec, "selector", "spec", {"matchLabels"});
  return present(sel) ? readSelector(ctx, sel, "matchLabels", "spec.selector")
                      : std::map<std::string, std::string>{};
}

}  // namespace

void translateAuthorizationPolicy(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec",
                         {"selector", "targetRef", "targetRefs", "action", "provider", "rules"});
  v1::AuthorizationPolicy ap;
  ap.set_name(ctx.res.name);
  ap.set_namespace_(ctx.res.ns);
  const auto selector = readWorkloadSelector(ctx, spec);
  ap.mutable_selector()->insert(selector.begin(), selector.end());
  readTargetRefs(ctx, spec, ap.mutable_target_refs());
  const std::string action = ctx.reader.str(spec, "action", "spec").value_or("ALLOW");
  v1::AuthorizationPolicy::Action a{};
  if (!v1::AuthorizationPolicy::Action_Parse(action, &a)) {
    ctx.reader.fail(child(spec, "action"), fmt::format("spec.action: unknown action '{}', expected "
                                                       "ALLOW, DENY, AUDIT or CUSTOM",
                                                       action));
  }
  ap.set_action(a);
  const bool targeted = !selector.empty() || ap.target_refs_size() > 0;
  ap.set_scope(targeted ? v1::AuthorizationPolicy::WORKLOAD_SELECTOR
               : ctx.res.ns == ctx.options.root_namespace ? v1::AuthorizationPolicy::GLOBAL
                                                          : v1::AuthorizationPolicy::NAMESPACE);
  bool l7 = false;
  const auto rules = ctx.reader.list(spec, "rules", "spec");
  for (size_t i = 0; i < rules.size(); ++i) {
    *ap.add_rules() = readRule(ctx, rules[i], fieldPath("spec.rules", i), &l7);
  }
  ap.set_needs_l7(l7);
  ctx.model.authorization_policies.push_back({std::move(ap), &ctx.res});
}

namespace {

std::optional<v1::PeerAuthentication::Mode> readMode(TranslateContext& ctx, const YAML::Node& m,
                                                     const std::string& path) {
  if (!ctx.reader.checkFields(m, path, {"mode"})) return std::nullopt;
  const auto mode = ctx.reader.str(m, "mode", path);
  if (!mode) return v1::PeerAuthentication::UNSET;
  v1::PeerAuthentication::Mode out{};
  if (!v1::PeerAuthentication::Mode_Parse(*mode, &out)) {
    ctx.reader.fail(child(m, "mode"),
                    fmt::format("{}.mode: unknown mTLS mode '{}', expected UNSET, "
                                "PERMISSIVE, STRICT or DISABLE",
                                path, *mode));
    return std::nullopt;
  }
  return out;
}

}  // namespace

void translatePeerAuthentication(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec", {"selector", "mtls", "portLevelMtls"});
  v1::PeerAuthentication pa;
  pa.set_name(ctx.res.name);
  pa.set_namespace_(ctx.res.ns);
  const auto selector = readWorkloadSelector(ctx, spec);
  pa.mutable_selector()->insert(selector.begin(), selector.end());
  pa.set_mesh_wide(selector.empty() && ctx.res.ns == ctx.options.root_namespace);
  if (isMap(spec) && present(child(spec, "mtls"))) {
    pa.set_mode(
        readMode(ctx, child(spec, "mtls"), "spec.mtls").value_or(v1::PeerAuthentication::UNSET));
  }
  const YAML::Node plm = isMap(spec) ? child(spec, "portLevelMtls") : YAML::Node();
  if (present(plm) && !isMap(plm)) ctx.reader.fail(plm, "spec.portLevelMtls: must be a map");
  if (present(plm) && isMap(plm)) {
    if (selector.empty()) ctx.reader.fail(plm, "spec.portLevelMtls requires spec.selector");
    for (auto it = plm.begin(); it != plm.end(); ++it) {
      const std::string path = fieldPath("spec.portLevelMtls", it->first.Scalar());
      const auto port = ctx.reader.port(it->first, path);
      const auto mode = readMode(ctx, it->second, path);
      if (port && mode) (*pa.mutable_port_level_mtls())[*port] = *mode;
    }
  }
  ctx.model.peer_authentications.push_back({std::move(pa), &ctx.res});
}

namespace {

v1::JwtRule readJwtRule(TranslateContext& ctx, const YAML::Node& r, const std::string& p) {
  v1::JwtRule out;
  ctx.reader.checkFields(
      r, p,
      {"issuer", "audiences", "jwks", "jwksUri", "fromHeaders", "fromParams", "fromCookies",
       "forwardOriginalToken", "outputPayloadToHeader", "outputClaimToHeaders", "timeout"});
  out.set_issuer(ctx.reader.str(r, "issuer", p, true).value_or(""));
  for (const auto& a : ctx.reader.stringList(r, "audiences", p)) out.add_audiences(a);
  out.set_jwks(ctx.reader.str(r, "jwks", p).value_or(""));
  out.set_jwks_uri(ctx.reader.str(r, "jwksUri", p).value_or(""));
  const auto headers = ctx.reader.list(r, "fromHeaders", p);
  for (size_t i = 0; i < headers.size(); ++i) {
    const std::string hp = fieldPath(fieldPath(p, "fromHeaders"), i);
    ctx.reader.checkFields(headers[i], hp, {"name", "prefix"});
    if (auto n = ctx.reader.str(headers[i], "name", hp, true)) {
      out.add_from_headers(*n);
      out.add_from_header_prefixes(ctx.reader.str(headers[i], "prefix", hp).value_or(""));
    }
  }
  for (const auto& s : ctx.reader.stringList(r, "fromParams", p)) out.add_from_params(s);
  out.set_forward_original_token(ctx.reader.boolean(r, "forwardOriginalToken", p).value_or(false));
  out.set_output_payload_to_header(ctx.reader.str(r, "outputPayloadToHeader", p).value_or(""));
  if (auto t = ctx.reader.str(r, "timeout", p); t && !parseDurationMs(*t)) {
    ctx.reader.fail(child(r, "timeout"), fmt::format("{}.timeout: invalid duration '{}'", p, *t));
  }
  return out;
}

}  // namespace

void translateRequestAuthentication(TranslateContext& ctx) {
  const YAML::Node spec = child(ctx.res.doc, "spec");
  ctx.reader.checkFields(spec, "spec", {"selector", "targetRef", "targetRefs", "jwtRules"});
  v1::RequestAuthentication ra;
  ra.set_name(ctx.res.name);
  ra.set_namespace_(ctx.res.ns);
  const auto selector = readWorkloadSelector(ctx, spec);
  ra.mutable_selector()->insert(selector.begin(), selector.end());
  readTargetRefs(ctx, spec, ra.mutable_target_refs());
  const auto rules = ctx.reader.list(spec, "jwtRules", "spec");
  for (size_t i = 0; i < rules.size(); ++i) {
    *ra.add_jwt_rules() = readJwtRule(ctx, rules[i], fieldPath("spec.jwtRules", i));
  }
  ctx.model.request_authentications.push_back({std::move(ra), &ctx.res});
}

}  // namespace ambit::config
