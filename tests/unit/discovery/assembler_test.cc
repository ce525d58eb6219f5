// SnapshotAssembler: a patched snapshot holds exactly what a fresh build holds, a snapshot
// someone else still holds is never touched, and the version depends on content only.

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <random>

#include "common/discovery/resource_store.h"
#include "common/discovery/snapshot_assembler.h"
#include "tests/unit/discovery/test_util.h"

namespace ambit::discovery {
namespace {

using namespace testing;

// The store a DiscoverySource keeps, driven the way it drives it.
struct Store {
  HeldResources held;
  SnapshotAssembler assembler;

  void put(MeshType type, const std::string& name, const google::protobuf::Message& m) {
    auto any = packResource(m);
    HeldResource r{contentVersion(any), {}};
    ASSERT_TRUE(config::addResource(r.decoded, type, name, any));
    auto& slot = held[static_cast<size_t>(type)][name];
    assembler.resourceChanged(type, name, slot.version, r.version);
    slot = std::move(r);
  }
  void remove(MeshType type, const std::string& name) {
    auto& map = held[static_cast<size_t>(type)];
    auto it = map.find(name);
    if (it == map.end()) return;
    assembler.resourceChanged(type, name, it->second.version, "");
    map.erase(it);
  }
};

// Order-insensitive: resources are identified by name, never by position.
void expectSameContent(const v1::MeshSnapshot& a, const v1::MeshSnapshot& b) {
  google::protobuf::util::MessageDifferencer diff;
  diff.set_repeated_field_comparison(google::protobuf::util::MessageDifferencer::AS_SET);
  std::string report;
  diff.ReportDifferencesToString(&report);
  EXPECT_TRUE(diff.Compare(a, b)) << report;
}

std::shared_ptr<v1::MeshSnapshot> freshBuild(const HeldResources& held) {
  Store copy;
  for (MeshType type : config::kMeshTypes) {
    for (const auto& [name, r] : held[static_cast<size_t>(type)]) {
      copy.held[static_cast<size_t>(type)][name] = r;
      copy.assembler.resourceChanged(type, name, "", r.version);
    }
  }
  return copy.assembler.build(copy.held);
}

TEST(SnapshotAssembler, PatchesAFreeCopyAndMatchesAFreshBuild) {
  Store s;
  for (int i = 0; i < 40; ++i)
    s.put(MeshType::kWorkload, "w" + std::to_string(i), workload("w" + std::to_string(i)));
  s.put(MeshType::kService, "default/svc", service("svc"));
  auto first = s.assembler.build(s.held);
  EXPECT_FALSE(s.assembler.lastWasPatched());
  EXPECT_EQ(first->workloads_size(), 40);

  // `first` is still held (a consumer has it): the next build cannot touch it.
  const std::string first_bytes = first->SerializeAsString();
  s.put(MeshType::kWorkload, "w3", workload("w3", "10.9.9.9"));
  auto second = s.assembler.build(s.held);
  EXPECT_FALSE(s.assembler.lastWasPatched());
  EXPECT_EQ(first->SerializeAsString(), first_bytes);
  EXPECT_NE(first.get(), second.get());

  // The consumer lets go of `first`: it is patched (catching up two changes) and reused.
  const auto* first_address = first.get();
  first.reset();
  s.remove(MeshType::kWorkload, "w0");
  s.put(MeshType::kWorkload, "new", workload("new"));
  auto third = s.assembler.build(s.held);
  EXPECT_TRUE(s.assembler.lastWasPatched());
  EXPECT_EQ(third.get(), first_address);
  expectSameContent(*third, *freshBuild(s.held));
  EXPECT_EQ(third->version(), freshBuild(s.held)->version());
  EXPECT_EQ(third->workloads_size(), 40);
}

TEST(SnapshotAssembler, RandomChurnAlwaysEqualsAFreshBuild) {
  Store s;
  std::mt19937 rng(7);
  std::shared_ptr<v1::MeshSnapshot> held_by_consumer;
  int patched = 0;
  for (int round = 0; round < 300; ++round) {
    const int changes = 1 + static_cast<int>(rng() % 3);
    for (int c = 0; c < changes; ++c) {
      const std::string name = "w" + std::to_string(rng() % 60);
      if (rng() % 3 == 0) {
        s.remove(MeshType::kWorkload, name);
      } else {
        s.put(MeshType::kWorkload, name, workload(name, "10.0.0." + std::to_string(rng() % 250)));
      }
      if (rng() % 10 == 0) s.put(MeshType::kService, "default/" + name, service(name));
    }
    auto built = s.assembler.build(s.held);
    patched += s.assembler.lastWasPatched();
    auto fresh = freshBuild(s.held);
    expectSameContent(*built, *fresh);
    ASSERT_EQ(built->version(), fresh->version()) << "round " << round;
    // The consumer keeps every other version a little longer.
    if (round % 2 == 0) held_by_consumer = built;
  }
  EXPECT_GT(patched, 100);  // the point of the assembler
}

TEST(SnapshotAssembler, VersionDependsOnContentNotArrivalOrder) {
  Store a, b;
  a.put(MeshType::kWorkload, "x", workload("x"));
  a.put(MeshType::kWorkload, "y", workload("y"));
  b.put(MeshType::kWorkload, "y", workload("y"));
  b.put(MeshType::kWorkload, "x", workload("x", "10.1.1.1"));
  EXPECT_NE(a.assembler.build(a.held)->version(), b.assembler.build(b.held)->version());
  b.put(MeshType::kWorkload, "x", workload("x"));
  EXPECT_EQ(a.assembler.build(a.held)->version(), b.assembler.build(b.held)->version());
  // A resource moved to another type changes the version.
  b.remove(MeshType::kWorkload, "y");
  b.put(MeshType::kService, "y", service("y"));
  EXPECT_NE(a.assembler.build(a.held)->version(), b.assembler.build(b.held)->version());
}

}  // namespace
}  // namespace ambit::discovery
