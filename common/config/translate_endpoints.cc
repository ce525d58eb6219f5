// discovery.k8s.io EndpointSlice translation: which pods back a Service that has no selector.
// Services with a selector take their endpoints from it (as Istio ambient does); a slice only
// matters for the selector-less ones, and only through endpoints whose targetRef is a Pod.
#include <fmt/format.h>

#include "common/config/loader.h"
#include "common/config/model.h"

namespace ambit::config {

void translateEndpointSlice(TranslateContext& ctx) {
  const YAML::Node& doc = ctx.res.doc;
  const auto labels = readLabels(ctx);
  const auto type = ctx.reader.str(doc, "addressType", "", true);
  if (type && *type != "IPv4" && *type != "IPv6" && *type != "FQDN") {
    ctx.reader.fail(
        child(doc, "addressType"),
        fmt::format("addressType: unknown type '{}', expected IPv4, IPv6 or FQDN", *type));
  }
  ServiceEndpoints out;
  out.ns = ctx.res.ns;
  const auto endpoints = ctx.reader.list(doc, "endpoints", "");
  for (size_t i = 0; i < endpoints.size(); ++i) {
    const std::string p = fieldPath("endpoints", i);
    if (!ctx.reader.checkFields(endpoints[i], p,
                                {"addresses", "conditions", "hostname", "targetRef", "nodeName",
                                 "zone", "hints", "deprecatedTopology"})) {
      continue;
    }
    ctx.reader.stringList(endpoints[i], "addresses", p);
    const YAML::Node ref = ctx.reader.object(
        endpoints[i], "targetRef", p,
        {"kind", "name", "namespace", "uid", "apiVersion", "resourceVersion", "fieldPath"});
    const std::string rp = fieldPath(p, "targetRef");
    if (!present(ref) || ctx.reader.str(ref, "kind", rp).value_or("") != "Pod") continue;
    const auto name = ctx.reader.str(ref, "name", rp, true);
    if (!name) continue;
    out.pods.push_back(
        fmt::format("{}/{}", ctx.reader.str(ref, "namespace", rp).value_or(ctx.res.ns), *name));
  }
  const auto ports = ctx.reader.list(doc, "ports", "");
  for (size_t i = 0; i < ports.size(); ++i) {
    const std::string p = fieldPath("ports", i);
    ctx.reader.checkFields(ports[i], p, {"name", "port", "protocol", "appProtocol"});
    ctx.reader.integer(ports[i], "port", p, 1, 65535);
  }
  auto svc = labels.find("kubernetes.io/service-name");
  if (svc == labels.end() || svc->second.empty()) return;  // not tied to a Service
  out.service = svc->second;
  ctx.model.endpoint_slices.push_back({std::move(out), &ctx.res});
}

}  // namespace ambit::config
