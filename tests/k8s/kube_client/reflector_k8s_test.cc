// The Kubernetes client against a real kube-apiserver + etcd (tests/k8s/cluster): paginated
// list, live watch events, and the hard case: a partition from the API server during which it
// restarts, objects are deleted and etcd is compacted. The reflector's watch then resumes from
// a resourceVersion the server no longer has (410) and must relist and report every delete.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <optional>

#include "common/async/spawn.h"
#include "common/kube/reflector.h"
#include "tests/k8s/kube_client/tcp_relay.h"
#include "tests/k8s/support/k8s_cluster.h"

namespace ambit::kube {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using json = nlohmann::json;

const ResourceType kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

struct Recorder : ReflectorHandler {
  void onUpsert(const ResourceType&, const json& o) override {
    log.push_back("upsert " + objectKey(o));
  }
  void onDelete(const ResourceType&, const json& o) override {
    log.push_back("delete " + objectKey(o));
  }
  void onSynced(const ResourceType&) override { log.push_back("synced"); }
  bool saw(const std::string& line) const {
    return std::find(log.begin(), log.end(), line) != log.end();
  }
  std::vector<std::string> log;
};

class KubeClientK8sTest : public test::KubeClusterTest {
 protected:
  static void SetUpTestSuite() { startCluster("ambit-kube-client"); }
  static void TearDownTestSuite() { stopCluster(); }

  void createConfigMap(const std::string& ns, const std::string& name) {
    auto r = call(http::verb::post, kConfigMaps.collectionPath(ns),
                  json{{"metadata", {{"name", name}}}, {"data", {{"k", "v"}}}});
    ASSERT_EQ(r.status, 201u) << r.body;
  }
  void deleteConfigMap(const std::string& ns, const std::string& name) {
    auto r = call(http::verb::delete_, kConfigMaps.collectionPath(ns) + "/" + name);
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  ReflectorOptions options(const std::string& ns) {
    ReflectorOptions o;
    o.name_space = ns;
    o.page_size = 2;
    o.initial_backoff = std::chrono::milliseconds(100);
    o.max_backoff = std::chrono::milliseconds(1000);
    o.seed = 7;
    return o;
  }
};

TEST_F(KubeClientK8sTest, PaginatedListThenLiveEvents) {
  const std::string ns = "kube-client-live";
  createNamespace(ns);
  for (int i = 0; i < 5; ++i) createConfigMap(ns, "cm" + std::to_string(i));
  Recorder rec;
  Reflector reflector(*client_, kConfigMaps, rec, options(ns));
  spawn(io_, reflector.run(), "reflector");
  ASSERT_TRUE(runUntil([&] { return reflector.synced(); })) << reflector.stats().last_error;
  EXPECT_EQ(reflector.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rec.saw("upsert " + ns + "/cm" + std::to_string(i)));

  rec.log.clear();
  auto patched = call(http::verb::patch, kConfigMaps.collectionPath(ns) + "/cm1",
                      json{{"data", {{"k", "v2"}}}}, "application/merge-patch+json");
  EXPECT_EQ(patched.status, 200u) << patched.body;
  deleteConfigMap(ns, "cm2");
  createConfigMap(ns, "cm5");
  ASSERT_TRUE(runUntil([&] { return rec.saw("upsert " + ns + "/cm5"); }));
  std::vector<std::string> want = {"upsert " + ns + "/cm1", "delete " + ns + "/cm2",
                                   "upsert " + ns + "/cm5"};
  EXPECT_EQ(rec.log, want);
  EXPECT_EQ(reflector.size(), 5u);
  EXPECT_EQ(reflector.stats().lists, 1u);
  reflector.stop();
  io_.run_for(std::chrono::milliseconds(100));
}

TEST_F(KubeClientK8sTest, PartitionRestartAndCompactionLoseNoDelete) {
  const std::string ns = "kube-client-expiry";
  createNamespace(ns);
  for (const char* n : {"a", "b", "c"}) createConfigMap(ns, n);
  boost::system::error_code ec;
  testing::TcpRelay relay(io_,
                          asio::ip::tcp::endpoint(asio::ip::make_address(config_.host, ec),
                                                  static_cast<uint16_t>(std::stoi(config_.port))));
  RestConfig via = config_;
  via.port = std::to_string(relay.port());
  ApiClient partitioned(io_.get_executor(), std::make_shared<Credentials>(via));
  Recorder rec;
  Reflector reflector(partitioned, kConfigMaps, rec, options(ns));
  spawn(io_, reflector.run(), "reflector");
  ASSERT_TRUE(runUntil([&] { return reflector.synced() && reflector.stats().watches > 0; }));
  const std::string rv_before = reflector.resourceVersion();

  relay.block();  // the node loses the control plane ...
  auto restarted = test::clusterHarness("restart-apiserver --root " + root_);
  ASSERT_EQ(restarted.exit_code, 0) << restarted.out;
  deleteConfigMap(ns, "b");  // ... while objects go away ...
  createConfigMap(ns, "d");
  auto compacted = test::clusterHarness("compact-etcd --root " + root_);  // ... and history too
  ASSERT_EQ(compacted.exit_code, 0) << compacted.out;
  rec.log.clear();
  relay.unblock();

  ASSERT_TRUE(runUntil([&] {
    return rec.saw("delete " + ns + "/b") && rec.saw("upsert " + ns + "/d");
  })) << "events after the partition: "
      << ::testing::PrintToString(rec.log) << " last error: " << reflector.stats().last_error;
  EXPECT_FALSE(rec.saw("delete " + ns + "/a"));
  EXPECT_FALSE(rec.saw("delete " + ns + "/c"));
  EXPECT_EQ(reflector.size(), 3u);  // a, c, d
  EXPECT_GE(reflector.stats().relists_410, 1u)
      << "the watch from resourceVersion " << rv_before << " should have expired (410)";
  reflector.stop();
  relay.stop();
  io_.run_for(std::chrono::milliseconds(100));
}

}  // namespace
}  // namespace ambit::kube
