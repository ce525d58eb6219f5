#include "common/kube/watch_event.h"

#include <gtest/gtest.h>

namespace ambit::kube {
namespace {

TEST(WatchEvent, DecodesEachType) {
  auto ev = decodeWatchEvent(
      R"({"type":"ADDED","object":{"metadata":{"name":"p","namespace":"ns","resourceVersion":"7"}}})");
  ASSERT_TRUE(ev) << ev.error().message;
  EXPECT_EQ(ev->type, WatchEvent::Type::kAdded);
  EXPECT_EQ(ev->key, "ns/p");
  EXPECT_EQ(ev->resource_version, "7");

  ev = decodeWatchEvent(
      R"({"type":"DELETED","object":{"metadata":{"name":"n","resourceVersion":"9"}}})");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type, WatchEvent::Type::kDeleted);
  EXPECT_EQ(ev->key, "n");  // cluster-scoped

  ev = decodeWatchEvent(
      R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"12"}}})");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type, WatchEvent::Type::kBookmark);
  EXPECT_EQ(ev->resource_version, "12");
  EXPECT_EQ(ev->key, "");

  ev = decodeWatchEvent(
      R"j({"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired","message":"too old resource version: 1 (5)"}})j");
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type, WatchEvent::Type::kError);
  ApiStatus s = parseStatus(ev->object.dump());
  EXPECT_EQ(s.code, 410);
  EXPECT_EQ(s.reason, "Expired");
}

TEST(WatchEvent, RejectsMalformedEventsWithAReason) {
  struct Case {
    const char* line;
    const char* expect;
  } cases[] = {
      {"", "not JSON"},
      {"{\"type\":", "not JSON"},
      {"[1,2]", "not a JSON object"},
      {R"({"type":"EXPLODED","object":{}})", "unknown type 'EXPLODED'"},
      {R"({"type":"ADDED"})", "has no object"},
      {R"({"type":"ADDED","object":"x"})", "has no object"},
      {R"({"type":"ADDED","object":{"metadata":{"name":"p"}}})", "no metadata.resourceVersion"},
      {R"({"type":"MODIFIED","object":{"metadata":{"resourceVersion":"1"}}})", "no metadata.name"},
      {R"({"type":"ADDED","object":{"metadata":{"name":5,"resourceVersion":"1"}}})",
       "no metadata.name"},
      {R"({"type":"ADDED","object":{"metadata":"oops"}})", "no metadata.resourceVersion"},
  };
  for (const auto& c : cases) {
    auto ev = decodeWatchEvent(c.line);
    ASSERT_FALSE(ev) << c.line;
    EXPECT_NE(ev.error().message.find(c.expect), std::string::npos)
        << c.line << " -> " << ev.error().message;
  }
}

TEST(WatchEvent, StatusOfNonStatusBodyKeepsTheText) {
  ApiStatus s = parseStatus("<html>bad gateway</html>");
  EXPECT_EQ(s.code, 0);
  EXPECT_EQ(s.message, "<html>bad gateway</html>");
}

TEST(ResourceType, Paths) {
  ResourceType pods{"", "v1", "pods", "Pod", true};
  EXPECT_EQ(pods.collectionPath(), "/api/v1/pods");
  EXPECT_EQ(pods.collectionPath("ns1"), "/api/v1/namespaces/ns1/pods");
  ResourceType ap{"security.istio.io", "v1", "authorizationpolicies", "AuthorizationPolicy", true};
  EXPECT_EQ(ap.collectionPath(), "/apis/security.istio.io/v1/authorizationpolicies");
  EXPECT_EQ(ap.apiVersion(), "security.istio.io/v1");
  EXPECT_EQ(ap.qualifiedName(), "authorizationpolicies.security.istio.io");
  ResourceType nodes{"", "v1", "nodes", "Node", false};
  EXPECT_EQ(nodes.collectionPath("ignored"), "/api/v1/nodes");
}

}  // namespace
}  // namespace ambit::kube
