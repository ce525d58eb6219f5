// SnapshotAssembler: a patched snapshot holds exactly what a fresh build holds, a snapshot
// someone else still holds is never touched, and the version depends on content only.

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <map>
#include <random>

#include "common/discovery/resource_store.h"
#include "common/discovery/service_membership.h"
#include "common/discovery/snapshot_assembler.h"
#include "tests/unit/discovery/test_util.h"

namespace ambit::discovery {
namespace {

using namespace testing;

// The store a DiscoverySource keeps, driven the way it drives it.
struct Store {
  HeldResources held;
  ServiceMembership membership;
  SnapshotAssembler assembler;

  void put(MeshType type, const std::string& name, const google::protobuf::Message& m) {
    auto any = packResource(m);
    HeldResource r{contentVersion(any), {}};
    ASSERT_TRUE(config::addResource(r.decoded, type, name, any));
    auto& slot = held[static_cast<size_t>(type)][name];
    if (type == MeshType::kWorkload) workloadChanged(slot.decoded, r.decoded);
    assembler.resourceChanged(type, name, slot.version, r.version);
    slot = std::move(r);
  }
  void remove(MeshType type, const std::string& name) {
    auto& map = held[static_cast<size_t>(type)];
    auto it = map.find(name);
    if (it == map.end()) return;
    if (type == MeshType::kWorkload) workloadChanged(it->second.decoded, {});
    assembler.resourceChanged(type, name, it->second.version, "");
    map.erase(it);
  }
  // A resource as another store holds it.
  void adopt(MeshType type, const std::string& name, const HeldResource& r) {
    if (type == MeshType::kWorkload) workloadChanged({}, r.decoded);
    assembler.resourceChanged(type, name, "", r.version);
    held[static_cast<size_t>(type)][name] = r;
  }
  std::shared_ptr<v1::MeshSnapshot> build() { return assembler.build(held, membership); }

 private:
  void workloadChanged(const v1::MeshSnapshot& before, const v1::MeshSnapshot& after) {
    std::vector<std::string> touched;
    membership.workloadChanged(before.workloads_size() ? &before.workloads(0) : nullptr,
                               after.workloads_size() ? &after.workloads(0) : nullptr, touched);
    const auto& services = held[static_cast<size_t>(MeshType::kService)];
    for (const auto& name : touched) {
      if (auto it = services.find(name); it != services.end())
        assembler.resourceChanged(MeshType::kService, name, it->second.version, it->second.version);
    }
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
      copy.adopt(type, name, r);
    }
  }
  return copy.build();
}

TEST(SnapshotAssembler, PatchesAFreeCopyAndMatchesAFreshBuild) {
  Store s;
  for (int i = 0; i < 40; ++i)
    s.put(MeshType::kWorkload, "w" + std::to_string(i), workload("w" + std::to_string(i)));
  s.put(MeshType::kService, "default/svc", service("svc"));
  auto first = s.build();
  EXPECT_FALSE(s.assembler.lastWasPatched());
  EXPECT_EQ(first->workloads_size(), 40);

  // `first` is still held (a consumer has it): the next build cannot touch it.
  const std::string first_bytes = first->SerializeAsString();
  s.put(MeshType::kWorkload, "w3", workload("w3", "10.9.9.9"));
  auto second = s.build();
  EXPECT_FALSE(s.assembler.lastWasPatched());
  EXPECT_EQ(first->SerializeAsString(), first_bytes);
  EXPECT_NE(first.get(), second.get());

  // The consumer lets go of `first`: it is patched (catching up two changes) and reused.
  const auto* first_address = first.get();
  first.reset();
  s.remove(MeshType::kWorkload, "w0");
  s.put(MeshType::kWorkload, "new", workload("new"));
  auto third = s.build();
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
    auto built = s.build();
    patched += s.assembler.lastWasPatched();
    auto fresh = freshBuild(s.held);
    expectSameContent(*built, *fresh);
    ASSERT_EQ(built->version(), fresh->version()) << "round " << round;
    // The consumer keeps every other version a little longer.
    if (round % 2 == 0) held_by_consumer = built;
  }
  EXPECT_GT(patched, 100);  // the point of the assembler
}

// Services arrive without endpoints (ambit-control's wire form, service_membership.h): each
// assembled Service lists the workloads naming it, also after workloads move between services
// and whichever copy was patched.
TEST(SnapshotAssembler, ServiceEndpointsComeFromTheWorkloadsThatListThem) {
  Store s;
  std::mt19937 rng(11);
  std::map<std::string, std::string> service_of;  // workload -> its one service ("" none)
  for (int i = 0; i < 6; ++i)
    s.put(MeshType::kService, "default/s" + std::to_string(i), service("s" + std::to_string(i)));
  std::shared_ptr<v1::MeshSnapshot> held_by_consumer;
  for (int round = 0; round < 200; ++round) {
    const std::string name = "w" + std::to_string(rng() % 30);
    if (rng() % 4 == 0) {
      s.remove(MeshType::kWorkload, name);
      service_of.erase(name);
    } else {
      v1::Workload w = workload(name);
      const int pick = static_cast<int>(rng() % 7);  // 6: no service
      if (pick < 6) w.add_services("default/s" + std::to_string(pick));
      s.put(MeshType::kWorkload, name, w);
      service_of[name] = pick < 6 ? "default/s" + std::to_string(pick) : "";
    }
    auto built = s.build();
    for (const auto& svc : built->services()) {
      std::vector<std::string> expected;
      for (const auto& [w, owner] : service_of) {
        if (owner == config::resourceName(svc)) expected.push_back("default/" + w);
      }
      ASSERT_EQ(std::vector<std::string>(svc.endpoints().begin(), svc.endpoints().end()), expected)
          << "round " << round << ", " << config::resourceName(svc);
    }
    expectSameContent(*built, *freshBuild(s.held));
    if (round % 2 == 0) held_by_consumer = built;
  }
}

// A Service that carries its own endpoints (the relay's form, an older control plane) keeps
// them, joined with the workloads that list it.
TEST(SnapshotAssembler, EndpointsCarriedByAServiceAreKept) {
  Store s;
  v1::Service svc = service("svc");
  svc.add_endpoints("default/b");
  svc.add_endpoints("default/a");
  s.put(MeshType::kService, "default/svc", svc);
  auto alone = s.build();
  ASSERT_EQ(alone->services_size(), 1);
  EXPECT_EQ(alone->services(0).endpoints_size(), 2);
  EXPECT_EQ(alone->services(0).endpoints(0), "default/b");  // untouched, in its order
  alone.reset();
  v1::Workload c = workload("c");
  c.add_services("default/svc");
  s.put(MeshType::kWorkload, "default/c", c);
  auto joined = s.build();
  ASSERT_EQ(joined->services_size(), 1);
  EXPECT_THAT(joined->services(0).endpoints(),
              ::testing::ElementsAre("default/a", "default/b", "default/c"));
}

TEST(SnapshotAssembler, VersionDependsOnContentNotArrivalOrder) {
  Store a, b;
  a.put(MeshType::kWorkload, "x", workload("x"));
  a.put(MeshType::kWorkload, "y", workload("y"));
  b.put(MeshType::kWorkload, "y", workload("y"));
  b.put(MeshType::kWorkload, "x", workload("x", "10.1.1.1"));
  EXPECT_NE(a.build()->version(), b.build()->version());
  b.put(MeshType::kWorkload, "x", workload("x"));
  EXPECT_EQ(a.build()->version(), b.build()->version());
  // A resource moved to another type changes the version.
  b.remove(MeshType::kWorkload, "y");
  b.put(MeshType::kService, "y", service("y"));
  EXPECT_NE(a.build()->version(), b.build()->version());
}

}  // namespace
}  // namespace ambit::discovery
