// HttpMetrics: the Istio request series, and its cache keyed by index pointers.

#include "waypoint/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <string>

#include "common/config/loader.h"
#include "tests/support/test_data.h"
#include "waypoint/mesh_index.h"

namespace ambit::waypoint {
namespace {

v1::MeshSnapshot meshSnapshot() {
  config::LoadResult r = config::translate({{"mesh.yaml", test::meshYaml()}});
  for (const auto& e : r.errors) ADD_FAILURE() << e.toString();
  return std::move(r.snapshot);
}

std::shared_ptr<const MeshIndex> indexOf(std::shared_ptr<const v1::MeshSnapshot> snapshot) {
  auto index = MeshIndex::build(std::move(snapshot));
  EXPECT_TRUE(index) << (index ? "" : index.error().message);
  return index ? *index : nullptr;
}

RequestRecord recordFor(std::shared_ptr<const MeshIndex> index, unsigned status = 200) {
  RequestRecord rec;
  rec.index = std::move(index);
  rec.source_principal = "spiffe://cluster.local/ns/default/sa/client";
  rec.service = rec.index->serviceByVip(boost::asio::ip::make_address("10.96.0.10"));
  rec.destination = rec.index->workloadByIp(boost::asio::ip::make_address("127.0.0.2"));
  rec.status = status;
  rec.duration = std::chrono::milliseconds(3);
  rec.request_bytes = 100;
  rec.response_bytes = 2000;
  return rec;
}

// istio_requests_total by "label=value,label=value" of the labels named in `keys`.
std::map<std::string, double> requestCounts(prometheus::Registry& registry,
                                            const std::vector<std::string>& keys) {
  std::map<std::string, double> out;
  for (const auto& family : registry.Collect()) {
    if (family.name != "istio_requests_total") continue;
    for (const auto& metric : family.metric) {
      std::string id;
      for (const auto& key : keys) {
        for (const auto& l : metric.label) {
          if (l.name == key) id += (id.empty() ? "" : ",") + key + "=" + l.value;
        }
      }
      out[id] += metric.counter.value;
    }
  }
  return out;
}

TEST(HttpMetricsTest, CountsEachLabelSetSeparately) {
  prometheus::Registry registry;
  HttpMetrics metrics(registry);
  auto index = indexOf(std::make_shared<const v1::MeshSnapshot>(meshSnapshot()));
  ASSERT_TRUE(index);
  for (int i = 0; i < 3; ++i) metrics.record(recordFor(index));
  metrics.record(recordFor(index, 503));
  RequestRecord flagged = recordFor(index, 503);
  flagged.response_flags = "UF";
  metrics.record(flagged);
  RequestRecord other = recordFor(index);
  other.source_principal = "spiffe://cluster.local/ns/other/sa/x";
  metrics.record(other);
  other.destination = index->workloadByIp(boost::asio::ip::make_address("127.0.0.3"));
  metrics.record(other);

  auto counts = requestCounts(
      registry, {"source_principal", "destination_version", "response_code", "response_flags"});
  const std::string client = "source_principal=spiffe://cluster.local/ns/default/sa/client";
  const std::string x = "source_principal=spiffe://cluster.local/ns/other/sa/x";
  EXPECT_EQ(counts[client + ",destination_version=v1,response_code=200,response_flags=-"], 3);
  EXPECT_EQ(counts[client + ",destination_version=v1,response_code=503,response_flags=-"], 1);
  EXPECT_EQ(counts[client + ",destination_version=v1,response_code=503,response_flags=UF"], 1);
  EXPECT_EQ(counts[x + ",destination_version=v1,response_code=200,response_flags=-"], 1);
  EXPECT_EQ(counts[x + ",destination_version=v2,response_code=200,response_flags=-"], 1);
  EXPECT_EQ(counts.size(), 5u);
}

// A new index can hold its workloads at the addresses an old one used: the cache must not hand
// the new request the old labels. Here the two indexes share one snapshot (the same pointers
// exactly) whose workload changed its version in between.
TEST(HttpMetricsTest, AConfigChangeAtTheSameAddressesGetsTheNewLabels) {
  prometheus::Registry registry;
  HttpMetrics metrics(registry);
  auto snapshot = std::make_shared<v1::MeshSnapshot>(meshSnapshot());
  auto first = indexOf(snapshot);
  ASSERT_TRUE(first);
  const RequestRecord before = recordFor(first);
  metrics.record(before);
  metrics.record(before);

  v1::Workload* v1 = nullptr;
  for (auto& w : *snapshot->mutable_workloads()) {
    if (&w == before.destination) v1 = &w;
  }
  ASSERT_NE(v1, nullptr);
  (*v1->mutable_labels())["version"] = "v9";
  auto second = indexOf(snapshot);
  ASSERT_TRUE(second);
  ASSERT_GT(second->serial(), first->serial());
  const RequestRecord after = recordFor(second);
  ASSERT_EQ(after.destination, before.destination);  // the very same address
  metrics.record(after);

  auto counts = requestCounts(registry, {"destination_version"});
  EXPECT_EQ(counts["destination_version=v1"], 2);
  EXPECT_EQ(counts["destination_version=v9"], 1);
}

// More label sets than the fast cache holds are all still counted, each in its own series.
TEST(HttpMetricsTest, LabelSetsBeyondTheCacheAreCountedToo) {
  prometheus::Registry registry;
  HttpMetrics metrics(registry);
  auto index = indexOf(std::make_shared<const v1::MeshSnapshot>(meshSnapshot()));
  ASSERT_TRUE(index);
  constexpr int kPrincipals = 5000;  // over HttpMetrics' 4,096 cached keys
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < kPrincipals; ++i) {
      RequestRecord rec = recordFor(index);
      rec.source_principal = "spiffe://cluster.local/ns/load/sa/p" + std::to_string(i);
      metrics.record(rec);
    }
  }
  auto counts = requestCounts(registry, {"source_principal"});
  ASSERT_EQ(counts.size(), static_cast<size_t>(kPrincipals));
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 2) << id;
}

}  // namespace
}  // namespace ambit::waypoint
