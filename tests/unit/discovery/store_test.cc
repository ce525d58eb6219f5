// ResourceStore, updateFromSnapshot, the persisted snapshot file and the channel options:
// pure logic and files, no network.

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "common/discovery/channel.h"
#include "common/discovery/relay.h"
#include "common/discovery/resource_store.h"
#include "common/discovery/snapshot_file.h"
#include "tests/unit/discovery/test_util.h"

namespace ambit::discovery {
namespace {

using namespace testing;

TEST(ResourceStore, VersionsAreContentHashesAndNoOpUpdatesChangeNothing) {
  ResourceStore store;
  int notified = 0;
  store.subscribe([&] { ++notified; });
  EXPECT_TRUE(store.update(MeshType::kWorkload, {{"default/a", packResource(workload("a"))}}, {}));
  auto v1 = store.view(MeshType::kWorkload);
  ASSERT_EQ(v1->size(), 1u);
  std::string version = v1->find("default/a")->version;
  EXPECT_EQ(version, contentVersion(packResource(workload("a"))));
  EXPECT_EQ(version.size(), 16u);

  // The same content again, and the removal of an unknown name: no change, no notification.
  EXPECT_FALSE(store.update(MeshType::kWorkload, {{"default/a", packResource(workload("a"))}},
                            {"default/none"}));
  EXPECT_EQ(notified, 1);
  EXPECT_EQ(store.view(MeshType::kWorkload)->revision, v1->revision);

  EXPECT_TRUE(store.update(MeshType::kWorkload,
                           {{"default/a", packResource(workload("a", "10.9.9.9"))}}, {}));
  EXPECT_NE(store.view(MeshType::kWorkload)->find("default/a")->version, version);
  // Views already handed out do not change.
  EXPECT_EQ(v1->find("default/a")->version, version);
  EXPECT_TRUE(store.update(MeshType::kWorkload, {}, {"default/a"}));
  EXPECT_TRUE(store.view(MeshType::kWorkload)->empty());
  EXPECT_EQ(notified, 3);
  EXPECT_EQ(store.systemVersion(), 3u);
  // Other types are untouched.
  EXPECT_EQ(store.view(MeshType::kService)->revision, 0u);
}

TEST(ResourceStore, AnUpdateCopiesOnlyTheBucketsItTouches) {
  ResourceStore store;
  std::vector<ResourceUpsert> upserts;
  for (int i = 0; i < 1000; ++i) {
    std::string name = fmt::format("w{}", i);
    upserts.push_back({"default/" + name, packResource(workload(name))});
  }
  ASSERT_TRUE(store.update(MeshType::kWorkload, std::move(upserts), {}));
  auto before = store.view(MeshType::kWorkload);
  ASSERT_EQ(before->size(), 1000u);
  std::string old_version = before->find("default/w7")->version;
  std::vector<std::string> names_before;
  before->forEach(
      [&](const std::string& name, const StoredResource&) { names_before.push_back(name); });

  // One upsert and one removal, in different buckets.
  std::string removed = "default/w8";
  size_t changed_bucket = TypeView::bucketOf("default/w7");
  size_t removed_bucket = TypeView::bucketOf(removed);
  ASSERT_NE(changed_bucket, removed_bucket);
  ASSERT_TRUE(store.update(MeshType::kWorkload,
                           {{"default/w7", packResource(workload("w7", "10.9.9.9"))}}, {removed}));
  auto after = store.view(MeshType::kWorkload);
  EXPECT_EQ(after->size(), 999u);
  EXPECT_EQ(after->find(removed), nullptr);
  EXPECT_NE(after->find("default/w7")->version, old_version);

  // The view taken before the update is unchanged.
  EXPECT_EQ(before->size(), 1000u);
  EXPECT_EQ(before->find("default/w7")->version, old_version);
  EXPECT_NE(before->find(removed), nullptr);
  std::vector<std::string> names_again;
  before->forEach(
      [&](const std::string& name, const StoredResource&) { names_again.push_back(name); });
  EXPECT_EQ(names_again, names_before);

  // Only the two touched buckets were copied; every other bucket is the same map.
  size_t shared = 0;
  for (size_t i = 0; i < TypeView::kBuckets; ++i) {
    bool touched = i == changed_bucket || i == removed_bucket;
    EXPECT_EQ(before->bucket(i) == after->bucket(i), !touched) << "bucket " << i;
    if (!touched) ++shared;
  }
  EXPECT_EQ(shared, TypeView::kBuckets - 2);
  // Untouched resources are shared too, not copied.
  EXPECT_EQ(before->find("default/w1"), after->find("default/w1"));
}

TEST(ResourceStore, IterationIsDeterministicAndVisitsEveryResourceOnce) {
  ResourceStore a;
  ResourceStore b;
  std::vector<ResourceUpsert> forward;
  std::vector<ResourceUpsert> backward;
  for (int i = 0; i < 300; ++i) {
    std::string name = fmt::format("w{}", i);
    forward.push_back({"default/" + name, packResource(workload(name))});
    name = fmt::format("w{}", 299 - i);
    backward.push_back({"default/" + name, packResource(workload(name))});
  }
  a.update(MeshType::kWorkload, std::move(forward), {});
  b.update(MeshType::kWorkload, std::move(backward), {});
  std::vector<std::string> order_a;
  std::vector<std::string> order_b;
  a.view(MeshType::kWorkload)->forEach([&](const std::string& name, const StoredResource&) {
    order_a.push_back(name);
  });
  b.view(MeshType::kWorkload)->forEach([&](const std::string& name, const StoredResource&) {
    order_b.push_back(name);
  });
  EXPECT_EQ(order_a, order_b);
  ASSERT_EQ(order_a.size(), 300u);
  std::sort(order_a.begin(), order_a.end());
  EXPECT_EQ(std::unique(order_a.begin(), order_a.end()), order_a.end());
}

TEST(ResourceStore, PackingIsDeterministicForMaps) {
  v1::Workload a = workload("a");
  v1::Workload b = workload("a");
  for (int i = 0; i < 50; ++i) (*a.mutable_labels())[fmt::format("k{}", i)] = "v";
  for (int i = 49; i >= 0; --i) (*b.mutable_labels())[fmt::format("k{}", i)] = "v";
  EXPECT_EQ(contentVersion(packResource(a)), contentVersion(packResource(b)));
  v1::Workload back;
  ASSERT_TRUE(packResource(a).UnpackTo(&back));
  EXPECT_EQ(back.labels().size(), a.labels().size());
}

TEST(UpdateFromSnapshot, MakesTheStoreHoldExactlyTheSnapshot) {
  ResourceStore store;
  v1::MeshSnapshot s;
  s.set_trust_domain("cluster.local");
  *s.add_workloads() = workload("a");
  *s.add_workloads() = workload("b");
  *s.add_services() = service("s");
  EXPECT_EQ(updateFromSnapshot(store, s), 4u);  // settings, a, b, s
  EXPECT_EQ(updateFromSnapshot(store, s), 0u);
  uint64_t system_version = store.systemVersion();

  s.mutable_workloads()->DeleteSubrange(0, 1);  // a goes
  s.mutable_workloads(0)->set_node("node-2");   // b changes
  EXPECT_EQ(updateFromSnapshot(store, s), 2u);
  auto workloads = store.view(MeshType::kWorkload);
  ASSERT_EQ(workloads->size(), 1u);
  EXPECT_NE(workloads->find("default/b"), nullptr);
  EXPECT_EQ(store.view(MeshType::kService)->size(), 1u);
  EXPECT_EQ(store.systemVersion(), system_version + 1);  // one update for the one type
}

TEST(SnapshotFile, RoundTripsAndRefusesCorruptFiles) {
  test::TempDir dir("discovery-snapshot");
  auto file = dir.path() / "sub" / "mesh.snapshot";
  v1::MeshSnapshot s;
  s.set_trust_domain("cluster.local");
  *s.add_workloads() = workload("a");
  auto written_at =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'000));
  ASSERT_TRUE(writeSnapshotFile(file, s, written_at));
  EXPECT_FALSE(std::filesystem::exists(file.string() + ".tmp"));
  auto back = readSnapshotFile(file);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->snapshot.SerializeAsString(), s.SerializeAsString());
  EXPECT_EQ(back->written_at, written_at);

  std::string content;
  {
    std::ifstream in(file, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  auto expectCorrupt = [&](const std::string& bytes, const std::string& why) {
    auto bad = dir.write("bad.snapshot", bytes);
    auto r = readSnapshotFile(bad);
    ASSERT_FALSE(r) << why;
    EXPECT_NE(r.error().message.find(why), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("bad.snapshot"), std::string::npos);
  };
  expectCorrupt(content.substr(0, content.size() - 3), "header says");
  std::string flipped = content;
  flipped.back() ^= 0x5a;
  expectCorrupt(flipped, "checksum mismatch");
  expectCorrupt("{\"not\": \"ours\"}\n", "not an ambit mesh snapshot");
  expectCorrupt("ambit-mesh-snapshot v9 1 00 0\n", "format v9");
  expectCorrupt("ambit-mesh-snapshot v1 x 00 0\n", "malformed header");
  expectCorrupt("", "no header line");

  auto missing = readSnapshotFile(dir.path() / "none");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ENOENT);
}

TEST(ControlChannel, OptionsAreCheckedAndTokensRead) {
  test::TempDir dir("discovery-channel");
  auto no_ca = makeControlChannel({.address = "ambit-control.ambit-system.svc:15012"});
  ASSERT_FALSE(no_ca);
  EXPECT_NE(no_ca.error().message.find("--control-ca"), std::string::npos);
  auto missing = makeControlChannel({.address = "c:15012", .control_ca = dir.path() / "none.pem"});
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("none.pem"), std::string::npos);
  auto not_pem =
      makeControlChannel({.address = "c:15012", .control_ca = dir.write("ca.pem", "hello")});
  ASSERT_FALSE(not_pem);
  EXPECT_NE(not_pem.error().message.find("no PEM certificate"), std::string::npos);
  EXPECT_TRUE(makeControlChannel({.address = "unix:" + dir.file("x.sock")}));
  EXPECT_FALSE(makeControlChannel({}));

  auto token = readTokenFile(dir.write("token", "  abc.def \n"));
  ASSERT_TRUE(token);
  EXPECT_EQ(*token, "abc.def");
  auto empty = readTokenFile(dir.write("empty", "\n"));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("is empty"), std::string::npos);
}

}  // namespace
}  // namespace ambit::discovery
