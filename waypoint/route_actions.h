#pragma once
// Route actions that change messages (pure functions): redirects, URI/authority rewrites and
// header operations (VirtualService `headers`, HTTPRoute RequestHeaderModifier /
// ResponseHeaderModifier), applied in Istio's order: route-level, then destination-level.

#include <optional>

#include "ambit/v1/route.pb.h"
#include "waypoint/http_codec.h"

namespace ambit::waypoint {

// The redirect the route asks for, or nullopt. Location keeps what the redirect does not
// replace (scheme http, the request's Host, its path).
std::optional<HttpResponse> redirectFor(const v1::HttpRoute& route, const HttpRequest& request);

// Rewrites the request target and Host as the route says. A prefix match's matched prefix is
// replaced by rewrite.uri; any other match replaces the whole path; the query stays.
void applyRewrite(const v1::HttpRoute& route, const v1::HttpMatch* matched, HttpRequest& request);

void applyRequestHeaderOps(const v1::HeaderOps& ops, HttpRequest& request);
void applyResponseHeaderOps(const v1::HeaderOps& ops, HttpResponse& response);

}  // namespace ambit::waypoint
