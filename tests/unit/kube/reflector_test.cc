#include "common/kube/reflector.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "common/async/spawn.h"
#include "tests/support/files.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/kube/api_server_script.h"

namespace ambit::kube {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using testing::ScriptedApiServer;
using Reply = ScriptedApiServer::Reply;

const ResourceType kPods{"", "v1", "pods", "Pod", true};

std::string pod(const std::string& name, int rv) {
  return json{
      {"metadata", {{"name", name}, {"namespace", "ns"}, {"resourceVersion", std::to_string(rv)}}}}
      .dump();
}
std::string list(std::vector<std::string> items, const std::string& rv,
                 const std::string& cont = {}) {
  json j{{"kind", "PodList"}, {"metadata", {{"resourceVersion", rv}}}, {"items", json::array()}};
  if (!cont.empty()) j["metadata"]["continue"] = cont;
  for (auto& i : items) j["items"].push_back(json::parse(i));
  return j.dump();
}
std::string event(const std::string& type, const std::string& object) {
  return json{{"type", type}, {"object", json::parse(object)}}.dump();
}
std::string status410() {
  return R"j({"kind":"Status","apiVersion":"v1","status":"Failure","message":"too old resource version: 10 (15)","reason":"Expired","code":410})j";
}
bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

struct Recorder : ReflectorHandler {
  void onUpsert(const ResourceType&, const json& o) override {
    log.push_back("upsert " + objectKey(o) + " " + resourceVersionOf(o));
  }
  void onDelete(const ResourceType&, const json& o) override {
    log.push_back("delete " + objectKey(o));
  }
  void onSynced(const ResourceType&) override { log.push_back("synced"); }
  std::vector<std::string> log;
};

class ReflectorTest : public ::testing::Test {
 protected:
  template <typename Pred>
  bool runUntil(Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(20));
    }
    return pred();
  }
  ReflectorOptions fastOptions() {
    ReflectorOptions o;
    o.page_size = 2;
    o.initial_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(40);
    o.seed = 42;
    return o;
  }
  // Runs a reflector against `server` until `until(reflector)` holds (bounded), then stops both
  // and returns what the test checks.
  struct Outcome {
    bool reached = false;
    ReflectorStats stats;
    size_t size = 0;
    std::string resource_version;
  };
  template <typename Until>
  Outcome runReflector(ScriptedApiServer& server, Recorder& rec, Until until) {
    ApiClient client(io_.get_executor(), std::make_shared<Credentials>(server.restConfig()));
    Reflector reflector(client, kPods, rec, fastOptions());
    spawn(io_, reflector.run(), "test reflector");
    Outcome out;
    out.reached = runUntil([&] { return until(reflector); });
    reflector.stop();
    server.stop();
    io_.run_for(std::chrono::milliseconds(100));
    out.stats = reflector.stats();
    out.size = reflector.size();
    out.resource_version = reflector.resourceVersion();
    return out;
  }
  // GET /api through `client`, run to completion on the test's loop (nullopt: no answer).
  std::optional<Result<ApiResponse>> getApi(ApiClient& client) {
    std::optional<Result<ApiResponse>> got;
    spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          got = co_await client.request(boost::beast::http::verb::get, "/api");
        },
        "test request");
    runUntil([&] { return got.has_value(); });
    return got;
  }
  asio::io_context io_;
};

TEST_F(ReflectorTest, ListWatchAndRelistOn410NeverLosesADelete) {
  int lists = 0, watches = 0;
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    if (!has(r.target, "watch=true")) {
      ++lists;
      if (lists == 1) return {200, list({pod("a", 1), pod("b", 2)}, "", "c1")};
      if (lists == 2) {
        EXPECT_TRUE(has(r.target, "continue=c1")) << r.target;
        return {200, list({pod("c", 3)}, "10")};
      }
      // Relists: b was deleted while no watch saw it; a and d are unchanged.
      return {200, list({pod("a", 12), pod("d", 11)}, lists == 3 ? "20" : "30")};
    }
    ++watches;
    if (watches == 1) {
      EXPECT_TRUE(has(r.target, "resourceVersion=10")) << r.target;
      return {200,
              "",
              {event("ADDED", pod("d", 11)), event("MODIFIED", pod("a", 12)),
               event("DELETED", pod("c", 13)),
               R"({"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"14"}}})",
               R"({"type":"ERROR","object":)" + status410() + "}"}};
    }
    if (watches == 2) {
      EXPECT_TRUE(has(r.target, "resourceVersion=20")) << r.target;
      return {410, status410()};  // the watch request itself is refused
    }
    return {200, "", {}, /*hold_open=*/true};
  });
  Recorder rec;
  Outcome out = runReflector(server, rec, [&](const Reflector&) { return watches >= 3; });
  ASSERT_TRUE(out.reached) << "watches: " << watches;

  std::vector<std::string> want = {
      "upsert ns/a 1",  "upsert ns/b 2",  "upsert ns/c 3", "synced",  // paginated list
      "upsert ns/d 11", "upsert ns/a 12", "delete ns/c",              // watch events
      "delete ns/b",    "synced",                                     // relist after ERROR 410
      "synced",                                                       // relist after HTTP 410
  };
  EXPECT_EQ(rec.log, want);
  EXPECT_EQ(out.stats.lists, 3u);
  EXPECT_EQ(out.stats.relists_410, 2u);
  EXPECT_EQ(out.stats.bookmarks, 1u);
  EXPECT_EQ(out.size, 2u);
  EXPECT_EQ(out.resource_version, "30");
  // Every watch asks for bookmarks and a randomized timeout in [300, 600).
  for (const auto& r : server.requests()) {
    if (!has(r.target, "watch=true")) {
      EXPECT_TRUE(has(r.target, "limit=2")) << r.target;
      continue;
    }
    EXPECT_TRUE(has(r.target, "allowWatchBookmarks=true")) << r.target;
    auto pos = r.target.find("timeoutSeconds=");
    ASSERT_NE(pos, std::string::npos);
    int t = std::stoi(r.target.substr(pos + 15));
    EXPECT_GE(t, 300);
    EXPECT_LT(t, 600);
  }
}

TEST_F(ReflectorTest, ExpiredContinueTokenRestartsTheList) {
  int lists = 0;
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    if (has(r.target, "watch=true")) return {200, "", {}, true};
    ++lists;
    if (has(r.target, "continue=")) return {410, status410()};
    return lists == 1 ? Reply{200, list({pod("a", 1), pod("b", 2)}, "", "stale")}
                      : Reply{200, list({pod("a", 1), pod("c", 5)}, "7")};
  });
  Recorder rec;
  Outcome out = runReflector(server, rec, [&](const Reflector& r) { return r.synced(); });
  ASSERT_TRUE(out.reached);
  EXPECT_EQ(lists, 3);
  EXPECT_EQ(out.size, 2u);  // a and c; b never made it into the store
  EXPECT_EQ(rec.log.back(), "synced");
}

TEST_F(ReflectorTest, BadEventRewatchesFromTheLastGoodVersionWithoutRelisting) {
  int watches = 0;
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    if (!has(r.target, "watch=true")) return {200, list({}, "10")};
    ++watches;
    if (watches == 1) return {200, "", {event("ADDED", pod("e", 11)), "{not json"}};
    EXPECT_TRUE(has(r.target, "resourceVersion=11")) << r.target;
    return {200, "", {}, true};
  });
  Recorder rec;
  Outcome out = runReflector(server, rec, [&](const Reflector&) { return watches >= 2; });
  ASSERT_TRUE(out.reached);
  EXPECT_EQ(out.stats.lists, 1u);
  EXPECT_GE(out.stats.failures, 1u);
  EXPECT_TRUE(has(out.stats.last_error, "not JSON")) << out.stats.last_error;
}

TEST_F(ReflectorTest, MissingResourceIsRetriedWithBackoff) {
  int lists = 0;
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    if (has(r.target, "watch=true")) return {200, "", {}, true};
    if (++lists < 3)
      return {
          404,
          R"({"kind":"Status","code":404,"reason":"NotFound","message":"the server could not find the requested resource"})"};
    return {200, list({pod("a", 1)}, "3")};
  });
  Recorder rec;
  Outcome out = runReflector(server, rec, [&](const Reflector& r) { return r.synced(); });
  ASSERT_TRUE(out.reached);
  EXPECT_EQ(out.stats.failures, 2u);
  EXPECT_TRUE(has(out.stats.last_error, "HTTP 404 NotFound")) << out.stats.last_error;
}

TEST_F(ReflectorTest, UnauthorizedRereadsTheRotatedTokenOnce) {
  test::TempDir dir("ambit-kube-token");
  test::writeFile(dir.file("token"), "old\n");
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    if (r.authorization != "Bearer new")
      return {401, R"({"kind":"Status","code":401,"reason":"Unauthorized"})"};
    return {200, R"({"ok":true})"};
  });
  RestConfig cfg = server.restConfig();
  cfg.token_file = dir.path() / "token";
  auto creds = std::make_shared<Credentials>(cfg, std::chrono::seconds(3600));
  ASSERT_EQ(*creds->token(), "old");
  test::writeFile(dir.file("token"), "new\n");  // the kubelet rotated the projected token
  ApiClient client(io_.get_executor(), creds);
  std::optional<Result<ApiResponse>> got = getApi(client);
  ASSERT_TRUE(got.has_value());
  ASSERT_TRUE(*got) << got->error().message;
  EXPECT_EQ((*got)->status, 200u);
  ASSERT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[0].authorization, "Bearer old");
  EXPECT_EQ(server.requests()[1].authorization, "Bearer new");
  server.stop();
}

TEST_F(ReflectorTest, ServerWithAnUntrustedCertificateIsRefused) {
  ScriptedApiServer server(io_, [](const ScriptedApiServer::Request&) -> Reply {
    return {200, "{}"};
  });
  ScriptedApiServer other(io_, [](const ScriptedApiServer::Request&) -> Reply {
    return {200, "{}"};
  });
  RestConfig cfg = server.restConfig();
  cfg.ca_pem = other.restConfig().ca_pem;  // trust the wrong CA
  ApiClient client(io_.get_executor(), std::make_shared<Credentials>(cfg));
  std::optional<Result<ApiResponse>> got = getApi(client);
  ASSERT_TRUE(got.has_value());
  ASSERT_FALSE(*got);
  EXPECT_TRUE(has(got->error().message, "TLS handshake")) << got->error().message;
  EXPECT_TRUE(has(got->error().message, "GET /api")) << got->error().message;
  server.stop();
  other.stop();
}

}  // namespace
}  // namespace ambit::kube
