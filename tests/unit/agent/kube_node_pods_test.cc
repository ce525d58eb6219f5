// This node's pods from the API server (the scripted HTTPS peer of tests/unit/kube): what is kept
// per pod, the field selector, live changes, deletes, a name reused by a new pod, and malformed
// Pod objects (rejected with the field named, the last good version kept). Then the writer of
// Istio's redirection annotation: the merge patch it sends, 404 = gone, retries with backoff.
#include "agent/kube_node_pods.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "agent/redirection_annotator.h"
#include "common/async/spawn.h"
#include "tests/unit/kube/api_server_script.h"

namespace ambit::agent {
namespace {

namespace asio = boost::asio;
using json = nlohmann::json;
using kube::testing::ScriptedApiServer;
using Reply = ScriptedApiServer::Reply;

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

json podJson(const std::string& name, const std::string& uid, int rv,
             const std::string& ip = "10.244.1.5") {
  return json{{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata",
               {{"name", name},
                {"namespace", "shop"},
                {"uid", uid},
                {"resourceVersion", std::to_string(rv)},
                {"labels", {{"app", name}}}}},
              {"spec", {{"nodeName", "node1"}, {"serviceAccountName", "web"}}},
              {"status",
               {{"phase", "Running"},
                {"qosClass", "Burstable"},
                {"podIP", ip},
                {"podIPs", json::array({{{"ip", ip}}, {{"ip", "fd00::5"}}})}}}};
}

TEST(ParseNodePod, KeepsWhatTheAgentNeeds) {
  json p = podJson("web", "uid-1", 3);
  p["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z";
  p["spec"]["hostNetwork"] = true;
  auto pod = parseNodePod(p);
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_EQ(pod->uid, "uid-1");
  EXPECT_EQ(pod->key(), "shop/web");
  EXPECT_EQ(pod->node, "node1");
  EXPECT_EQ(pod->qos, QosClass::kBurstable);
  EXPECT_EQ(pod->phase, "Running");
  ASSERT_EQ(pod->ips.size(), 2u);
  EXPECT_EQ(pod->ips[0].toString(), "10.244.1.5");
  EXPECT_EQ(pod->ips[1].toString(), "fd00::5");
  EXPECT_EQ(pod->labels.at("app"), "web");
  EXPECT_TRUE(pod->host_network);
  EXPECT_TRUE(pod->deleting);
}

TEST(ParseNodePod, APendingPodHasNoIpAndNoQosYet) {
  json p = podJson("web", "uid-1", 3);
  p["status"] = json::object();
  auto pod = parseNodePod(p);
  ASSERT_TRUE(pod) << pod.error().message;
  EXPECT_TRUE(pod->ips.empty());
  EXPECT_EQ(pod->qos, QosClass::kUnknown);
  EXPECT_FALSE(pod->host_network);
}

TEST(ParseNodePod, MalformedObjectsNameTheField) {
  struct Case {
    std::function<void(json&)> mutate;
    std::string want;
  };
  std::vector<Case> cases = {
      {[](json& p) { p["metadata"].erase("uid"); }, "metadata.uid: missing"},
      {[](json& p) { p["metadata"]["uid"] = 7; }, "metadata.uid: expected a string"},
      {[](json& p) { p["status"]["podIPs"][0]["ip"] = "10.244.1.500"; },
       "'10.244.1.500' is not an IP address"},
      {[](json& p) {
         p["status"].erase("podIPs");
         p["status"]["podIP"] = "not-an-ip";
       },
       "'not-an-ip' is not an IP address"},
      {[](json& p) { p["status"]["podIPs"] = "10.0.0.1"; }, "status.podIPs: expected a list"},
      {[](json& p) { p["status"]["qosClass"] = "Gold"; }, "status.qosClass"},
      {[](json& p) { p["spec"]["hostNetwork"] = "yes"; }, "spec.hostNetwork"},
      {[](json& p) { p["metadata"]["labels"] = json::array(); }, "metadata.labels"},
      {[](json& p) { p["metadata"]["labels"]["n"] = 1; }, "metadata.labels[n]"},
      {[](json& p) { p.erase("metadata"); }, "metadata: missing"},
  };
  for (auto& c : cases) {
    json p = podJson("web", "uid-1", 3);
    c.mutate(p);
    auto pod = parseNodePod(p);
    ASSERT_FALSE(pod) << p.dump();
    EXPECT_TRUE(has(pod.error().message, c.want)) << pod.error().message << " / " << c.want;
  }
  EXPECT_FALSE(parseNodePod(json::array()));
  EXPECT_FALSE(parseNodePod(json("pod")));
}

std::string list(const std::vector<json>& items, const std::string& rv) {
  return json{{"kind", "PodList"}, {"metadata", {{"resourceVersion", rv}}}, {"items", items}}
      .dump();
}
std::string event(const std::string& type, const json& object) {
  return json{{"type", type}, {"object", object}}.dump();
}

class KubeNodePodsTest : public ::testing::Test {
 protected:
  template <typename Pred>
  bool runUntil(Pred pred, std::chrono::seconds limit = std::chrono::seconds(10)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      io_.run_one_for(std::chrono::milliseconds(20));
    }
    return pred();
  }
  kube::ReflectorOptions fast() {
    kube::ReflectorOptions o;
    o.initial_backoff = std::chrono::milliseconds(10);
    o.max_backoff = std::chrono::milliseconds(40);
    o.seed = 1;
    return o;
  }
  asio::io_context io_;
};

TEST_F(KubeNodePodsTest, WatchesOnlyThisNodeAndKeepsLastGoodVersions) {
  int watches = 0;
  json bad = podJson("api", "uid-2", 13, "10.244.1.999");
  json reused = podJson("db", "uid-3b", 14, "10.244.1.7");  // a new pod under an old name
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    EXPECT_TRUE(has(r.target, "fieldSelector=spec.nodeName%3Dnode1")) << r.target;
    if (!has(r.target, "watch=true")) {
      return {200, list({podJson("web", "uid-1", 10), podJson("api", "uid-2", 11),
                         podJson("db", "uid-3", 12, "10.244.1.6")},
                        "12")};
    }
    if (++watches > 1) return {200, "", {}, true};
    json web = podJson("web", "uid-1", 13);
    web["metadata"]["labels"]["version"] = "v2";
    return {200,
            "",
            {event("MODIFIED", web), event("MODIFIED", bad),
             event("DELETED", podJson("db", "uid-3", 14)), event("ADDED", reused)},
            true};
  });
  kube::ApiClient client(io_.get_executor(),
                         std::make_shared<kube::Credentials>(server.restConfig()));
  std::vector<std::string> changes;
  KubeNodePods pods(
      client, "node1", [&](const std::string& uid) { changes.push_back(uid); }, fast());
  spawn(io_, pods.run(), "node pods");
  ASSERT_TRUE(runUntil([&] { return pods.pod("uid-3b").has_value(); }))
      << pods.reflectorStats().last_error;
  EXPECT_TRUE(pods.synced());
  EXPECT_EQ(pods.pods().size(), 3u);  // web, api (last good), db (new uid)
  EXPECT_EQ(pods.pod("uid-1")->labels.at("version"), "v2");
  auto api = pods.pod("uid-2");
  ASSERT_TRUE(api) << "a malformed update keeps the last good version";
  EXPECT_EQ(api->ips[0].toString(), "10.244.1.5");
  EXPECT_EQ(pods.stats().rejected, 1u);
  EXPECT_TRUE(has(pods.stats().last_rejection, "shop/api")) << pods.stats().last_rejection;
  EXPECT_TRUE(has(pods.stats().last_rejection, "10.244.1.999")) << pods.stats().last_rejection;
  EXPECT_FALSE(pods.pod("uid-3"));
  EXPECT_EQ(pods.pod("uid-3b")->ips[0].toString(), "10.244.1.7");
  // "" after the list: the agent reconciles once the set is complete (changes seen while
  // listing came before synced() and were not acted on).
  std::vector<std::string> want = {"uid-1", "uid-2", "uid-3", "", "uid-1", "uid-3", "uid-3b"};
  EXPECT_EQ(changes, want);
  pods.stop();
  server.stop();
  io_.run_for(std::chrono::milliseconds(100));
}

class RedirectionAnnotatorTest : public KubeNodePodsTest {
 protected:
  RedirectionAnnotatorOptions fastBackoff() {
    return {std::chrono::milliseconds(5), std::chrono::milliseconds(20)};
  }
};

TEST_F(RedirectionAnnotatorTest, WritesThenRemovesWithAMergePatchOnStatus) {
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request&) -> Reply {
    return {200, "{}"};
  });
  kube::ApiClient client(io_.get_executor(),
                         std::make_shared<kube::Credentials>(server.restConfig()));
  RedirectionAnnotator annotator(client, fastBackoff());
  annotator.set("uid-1", "shop", "web", true);
  ASSERT_TRUE(runUntil([&] { return annotator.applied("uid-1") == true && annotator.idle(); }));
  annotator.set("uid-1", "shop", "web", false);
  ASSERT_TRUE(runUntil([&] { return annotator.applied("uid-1") == false && annotator.idle(); }));
  ASSERT_EQ(server.requests().size(), 2u);
  const auto& first = server.requests()[0];
  EXPECT_EQ(first.method, "PATCH");
  EXPECT_EQ(first.target, "/api/v1/namespaces/shop/pods/web/status");
  EXPECT_EQ(json::parse(first.body),
            json::parse(R"({"metadata":{"uid":"uid-1","annotations":)"
                        R"({"ambient.istio.io/redirection":"enabled"}}})"));
  EXPECT_EQ(
      json::parse(
          server.requests()[1].body)["metadata"]["annotations"]["ambient.istio.io/redirection"],
      nullptr)
      << "null removes the key in a merge patch";
  EXPECT_EQ(annotator.stats().patched, 2u);
  server.stop();
  io_.run_for(std::chrono::milliseconds(50));
}

TEST_F(RedirectionAnnotatorTest, RetriesConflictsAndServerErrorsAndStopsOnGone) {
  int calls = 0;
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request& r) -> Reply {
    if (has(r.target, "/pods/gone/")) return {404, R"({"kind":"Status","code":404})"};
    if (has(r.target, "/pods/denied/")) return {403, R"({"kind":"Status","code":403})"};
    ++calls;
    if (calls == 1) return {409, R"({"kind":"Status","code":409,"message":"conflict"})"};
    if (calls == 2) return {503, R"({"kind":"Status","code":503,"message":"etcd down"})"};
    return {200, "{}"};
  });
  kube::ApiClient client(io_.get_executor(),
                         std::make_shared<kube::Credentials>(server.restConfig()));
  RedirectionAnnotator annotator(client, fastBackoff());
  annotator.set("uid-1", "shop", "web", true);
  annotator.set("uid-2", "shop", "gone", true);
  annotator.set("uid-3", "shop", "denied", true);
  ASSERT_TRUE(runUntil([&] { return annotator.idle(); }));
  EXPECT_EQ(annotator.applied("uid-1"), true);
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(annotator.stats().retries, 2u);
  EXPECT_EQ(annotator.stats().gone, 1u);
  EXPECT_EQ(annotator.stats().dropped, 1u);
  EXPECT_FALSE(annotator.applied("uid-2")) << "a gone pod is forgotten";
  server.stop();
  io_.run_for(std::chrono::milliseconds(50));
}

TEST_F(RedirectionAnnotatorTest, StopEndsARetryingWorker) {
  ScriptedApiServer server(io_, [&](const ScriptedApiServer::Request&) -> Reply {
    return {500, R"({"kind":"Status","code":500})"};
  });
  kube::ApiClient client(io_.get_executor(),
                         std::make_shared<kube::Credentials>(server.restConfig()));
  RedirectionAnnotator annotator(client, {std::chrono::seconds(60), std::chrono::seconds(60)});
  annotator.set("uid-1", "shop", "web", true);
  ASSERT_TRUE(runUntil([&] { return annotator.stats().retries == 1; }));
  annotator.stop();
  EXPECT_TRUE(runUntil([&] { return annotator.idle(); }, std::chrono::seconds(2)))
      << "the 60 s backoff was not cut short";
  server.stop();
  io_.run_for(std::chrono::milliseconds(50));
}

}  // namespace
}  // namespace ambit::agent
