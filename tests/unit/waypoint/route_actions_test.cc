// Redirects, rewrites and header operations on messages.
#include "waypoint/route_actions.h"

#include <gtest/gtest.h>

namespace ambit::waypoint {
namespace {

HttpRequest get(const std::string& target) {
  HttpRequest r{http::verb::get, target, 11};
  r.set(http::field::host, "my-app.default.svc.cluster.local");
  return r;
}

std::string str(boost::beast::string_view s) { return std::string(s.data(), s.size()); }

TEST(WaypointRouteActions, RedirectKeepsWhatItDoesNotReplace) {
  v1::HttpRoute route;
  EXPECT_FALSE(redirectFor(route, get("/a")));
  route.mutable_redirect()->set_uri("/new");
  auto r = redirectFor(route, get("/old?x=1"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->result_int(), 301u);
  EXPECT_EQ(str((*r)[http::field::location]), "http://my-app.default.svc.cluster.local/new?x=1");
  route.mutable_redirect()->set_authority("other:8080");
  route.mutable_redirect()->set_port(9090);
  route.mutable_redirect()->set_scheme("https");
  route.mutable_redirect()->set_redirect_code(308);
  r = redirectFor(route, get("/p"));
  EXPECT_EQ(r->result_int(), 308u);
  EXPECT_EQ(str((*r)[http::field::location]), "https://other:9090/new");
}

TEST(WaypointRouteActions, RewriteReplacesTheMatchedPrefixAndKeepsTheQuery) {
  v1::HttpRoute route;
  route.mutable_rewrite()->set_uri("/v2/api");
  route.mutable_rewrite()->set_authority("backend");
  v1::HttpMatch prefix;
  prefix.set_uri_prefix("/api");
  HttpRequest r = get("/api/users?id=7");
  applyRewrite(route, &prefix, r);
  EXPECT_EQ(str(r.target()), "/v2/api/users?id=7");
  EXPECT_EQ(str(r[http::field::host]), "backend");
  HttpRequest whole = get("/anything?q");
  applyRewrite(route, nullptr, whole);
  EXPECT_EQ(str(whole.target()), "/v2/api?q");
  v1::HttpRoute regex;
  regex.mutable_rewrite()->set_uri_regex("^/items/([0-9]+)$");
  regex.mutable_rewrite()->set_uri_regex_substitution("/item?id=\\1");
  HttpRequest item = get("/items/42");
  applyRewrite(regex, nullptr, item);
  EXPECT_EQ(str(item.target()), "/item?id=42");
}

TEST(WaypointRouteActions, HeaderOpsRemoveThenSetThenAdd) {
  v1::HeaderOps ops;
  ops.add_request_remove("x-drop");
  (*ops.mutable_request_set())["x-set"] = "new";
  (*ops.mutable_request_add())["x-add"] = "second";
  (*ops.mutable_response_set())["x-route"] = "canary";
  HttpRequest r = get("/");
  r.set("x-drop", "1");
  r.set("x-set", "old");
  r.set("x-add", "first");
  applyRequestHeaderOps(ops, r);
  EXPECT_EQ(r.count("x-drop"), 0u);
  EXPECT_EQ(str(r["x-set"]), "new");
  EXPECT_EQ(r.count("x-add"), 2u);
  HttpResponse resp{http::status::ok, 11};
  applyResponseHeaderOps(ops, resp);
  EXPECT_EQ(str(resp["x-route"]), "canary");
}

}  // namespace
}  // namespace ambit::waypoint
