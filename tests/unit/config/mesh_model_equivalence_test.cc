// The property MeshModel is built on: after any sequence of upserts and removals of API
// objects, model.snapshot() equals translate() of the objects the model stores (each its own
// file, in the order they were first stored), and replaying every takeDelta() onto a copy
// reproduces model.snapshot(). Random sequences (seeded, so a failure reproduces) over every
// kind, with bad objects, IP clashes, dangling subsets, selector-less services, waypoints, and
// the tests/data fixtures.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "common/config/kube_object.h"
#include "common/config/mesh_model.h"
#include "tests/support/test_data.h"
#include "tests/unit/config/kube_objects.h"

namespace ambit::config {
namespace {

using testing::Json;
using testing::LabelMap;

// Sorts what order does not mean: every repeated field by resource name, endpoints and waypoint
// addresses. translate() may emit two RouteTables of one name (a VirtualService and an HTTPRoute
// named alike); the model serves the first stored, which is translate()'s first one.
v1::MeshSnapshot normalized(v1::MeshSnapshot s) {
  s.clear_version();
  auto sortByName = [](auto* field) {
    std::stable_sort(field->begin(), field->end(), [](const auto& a, const auto& b) {
      return resourceName(a) < resourceName(b);
    });
  };
  std::set<std::string> seen_routes;
  google::protobuf::RepeatedPtrField<v1::RouteTable> routes;
  for (const auto& r : s.route_tables()) {
    if (seen_routes.insert(resourceName(r)).second) *routes.Add() = r;
  }
  s.mutable_route_tables()->Swap(&routes);
  sortByName(s.mutable_namespaces());
  sortByName(s.mutable_workloads());
  sortByName(s.mutable_services());
  sortByName(s.mutable_waypoints());
  sortByName(s.mutable_authorization_policies());
  sortByName(s.mutable_peer_authentications());
  sortByName(s.mutable_request_authentications());
  sortByName(s.mutable_route_tables());
  sortByName(s.mutable_destination_policies());
  for (auto& svc : *s.mutable_services())
    std::sort(svc.mutable_endpoints()->begin(), svc.mutable_endpoints()->end());
  for (auto& wp : *s.mutable_waypoints())
    std::sort(wp.mutable_addresses()->begin(), wp.mutable_addresses()->end());
  return s;
}

::testing::AssertionResult sameMesh(const v1::MeshSnapshot& a, const v1::MeshSnapshot& b) {
  google::protobuf::util::MessageDifferencer diff;
  std::string report;
  diff.ReportDifferencesToString(&report);
  if (diff.Compare(normalized(a), normalized(b))) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << report;
}

std::string objectKey(const Json& o) {
  const auto& m = o.at("metadata");
  const std::string kind = o.at("kind");
  if (kind == "Namespace") return kind + " " + m.at("name").get<std::string>();
  return kind + " " + m.value("namespace", "default") + "/" + m.at("name").get<std::string>();
}

// What the model should hold: the stored objects in the order they were first stored.
class Oracle {
 public:
  void store(const Json& o) {
    auto [it, inserted] = objects_.try_emplace(objectKey(o), next_, o);
    if (inserted) ++next_;
    it->second.second = o;
  }
  bool erase(const std::string& key) { return objects_.erase(key) > 0; }
  const std::map<std::string, std::pair<uint64_t, Json>>& objects() const { return objects_; }

  LoadResult translateAll(const LoaderOptions& options) const {
    std::vector<std::pair<uint64_t, std::string>> order;
    for (const auto& [key, entry] : objects_) order.emplace_back(entry.first, key);
    std::sort(order.begin(), order.end());
    std::vector<SourceDocument> files;
    for (const auto& [seq, key] : order)
      files.push_back({"kubernetes:" + key, objects_.at(key).second.dump()});
    return translate(files, options);
  }

 private:
  uint64_t next_ = 1;
  std::map<std::string, std::pair<uint64_t, Json>> objects_;
};

struct Generated {
  Json object;
  bool bad = false;  // the kind translator must reject it
};

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }
  bool chance(int percent) { return pick(100) < percent; }
  const std::string& ns() { return kNamespaces[static_cast<size_t>(pick(2))]; }
  std::mt19937& rng() { return rng_; }
  void forgetPod(const std::string& key) { uids_.erase(key); }

  Generated next() {
    switch (pick(13)) {
      case 0:
      case 1:
      case 2:
        return pod();
      case 3:
        return namespaceObject();
      case 4:
        return service();
      case 5:
      case 12:
        return {testing::apiEndpointSlice(ns(), "es" + std::to_string(pick(3)),
                                          "s" + std::to_string(pick(4)), somePods())};
      case 6:
        return waypoint();
      case 7:
        return {testing::apiDestinationRule(ns(), "d" + std::to_string(pick(3)),
                                            "h" + std::to_string(pick(2)), someSubsets())};
      case 8:
        return virtualService();
      case 9:
        return {testing::apiHttpRoute(ns(), chance(15) ? "vs0" : "hr" + std::to_string(pick(2)),
                                      "s0", "s" + std::to_string(pick(4)))};
      case 10: {
        const bool bad = chance(10);
        return {testing::apiAuthorizationPolicy(ns(), "ap" + std::to_string(pick(2)),
                                                std::string(1, static_cast<char>('a' + pick(3))),
                                                bad ? "PERMIT" : (chance(50) ? "ALLOW" : "DENY")),
                bad};
      }
      default:
        return chance(50) ? Generated{testing::apiPeerAuthentication(
                                ns(), "pa0", chance(50) ? "STRICT" : "PERMISSIVE")}
                          : Generated{testing::apiRequestAuthentication(
                                ns(), "ra0", chance(50) ? "issuer.example" : "other.example")};
    }
  }

  Generated namespaceObject() {
    LabelMap labels;
    const int mode = pick(3);
    if (mode == 0) labels["istio.io/dataplane-mode"] = "ambient";
    if (mode == 1) labels["istio.io/dataplane-mode"] = "none";
    if (chance(40)) labels["istio.io/use-waypoint"] = "wp";
    const bool bad = chance(5);
    if (bad) labels["istio.io/dataplane-mode"] = "sometimes";
    return {testing::apiNamespace(ns(), labels), bad};
  }

 private:
  Generated pod() {
    testing::PodSpec p;
    p.ns = ns();
    p.name = "p" + std::to_string(pick(10)) + "-x";
    auto [uid, fresh] = uids_.try_emplace(p.ns + "/" + p.name);
    if (fresh) uid->second = "uid-" + std::to_string(++uid_counter_);
    p.uid = uid->second;
    p.labels["app"] = std::string(1, static_cast<char>('a' + pick(3)));
    if (chance(50)) p.labels["version"] = chance(50) ? "v1" : "v2";
    if (chance(15)) p.labels["gateway.networking.k8s.io/gateway-name"] = "wp";
    if (chance(10)) p.labels["istio.io/use-waypoint"] = chance(50) ? "none" : "wp";
    if (chance(10)) p.labels["istio.io/dataplane-mode"] = chance(50) ? "none" : "ambient";
    if (!chance(10)) p.ips.push_back("10.0.0." + std::to_string(1 + pick(12)));
    if (!p.ips.empty() && chance(10)) p.ips.push_back("10.0.0." + std::to_string(1 + pick(12)));
    if (chance(8)) p.phase = chance(50) ? "Succeeded" : "Failed";
    p.host_network = chance(5);
    const bool bad = chance(8);
    if (bad) {  // a completed pod is skipped before its labels are read
      p.labels["version"] = "not a label value!";
      p.phase = "Running";
    }
    return {testing::apiPod(p), bad};
  }

  Generated service() {
    LabelMap selector;
    const int shape = pick(6);  // 4, 5: no selector (endpoints from EndpointSlices)
    if (shape < 3) selector["app"] = std::string(1, static_cast<char>('a' + shape));
    if (shape == 3) selector = {{"app", "a"}, {"version", "v1"}};
    LabelMap labels;
    if (chance(15)) labels["istio.io/use-waypoint"] = chance(50) ? "wp" : "none";
    const int n = pick(4);
    Json svc = testing::apiService(ns(), "s" + std::to_string(n), selector,
                                   "10.96.0." + std::to_string(10 + n), labels);
    const bool bad = chance(5);
    if (bad) svc["spec"]["ports"][0]["port"] = 70000;
    return {svc, bad};
  }

  Generated waypoint() {
    static const char* kTypes[] = {"", "service", "workload", "all"};
    Json gw = testing::apiWaypoint(ns(), chance(80) ? "wp" : "wp2", kTypes[pick(4)],
                                   chance(10) ? "other-class" : "istio-waypoint");
    if (chance(15)) {
      gw["status"]["addresses"].push_back({{"type", "IPAddress"}, {"value", "10.200.0.1"}});
    }
    return {gw};
  }

  Generated virtualService() {
    auto subsets = someSubsets();
    std::vector<std::pair<std::string, int>> split;
    const bool bad = chance(10);
    if (subsets.size() == 1 && !bad) {
      split = {{subsets[0], 100}};
    } else {
      split = {{"v1", bad ? 80 : 50},
               {subsets.back() == "v1" ? "v2" : subsets.back(), bad ? 30 : 50}};
    }
    return {testing::apiVirtualService(ns(), "vs" + std::to_string(pick(3)),
                                       "h" + std::to_string(pick(2)), split),
            bad};
  }

  std::vector<std::string> someSubsets() {
    std::vector<std::string> out;
    for (const char* s : {"v1", "v2", "v3"}) {
      if (chance(50)) out.push_back(s);
    }
    if (out.empty()) out.push_back("v1");
    return out;
  }

  std::vector<std::string> somePods() {
    std::vector<std::string> out;
    for (int i = 0, n = 1 + pick(4); i < n; ++i)
      out.push_back("p" + std::to_string(pick(10)) + "-x");
    return out;
  }

  inline static const std::string kNamespaces[] = {"default", "beta"};
  std::mt19937 rng_;
  std::map<std::string, std::string> uids_;
  int uid_counter_ = 0;
};

std::set<std::string> objectsOf(const ConfigErrors& errors) {
  std::set<std::string> out;
  for (const auto& e : errors) out.insert(e.object);
  return out;
}

// Checks the model against the oracle, and the replica fed by deltas against the model.
void expectEquivalent(MeshModel& model, const Oracle& oracle, const LoadResult& expected,
                      v1::MeshSnapshot& replica, const std::string& step) {
  const v1::MeshSnapshot actual = model.snapshot();
  ASSERT_TRUE(sameMesh(actual, expected.snapshot)) << step;
  EXPECT_EQ(objectsOf(model.pendingErrors()), objectsOf(expected.errors)) << step;
  EXPECT_EQ(model.objectCount(), oracle.objects().size()) << step;
  const Status applied = applyDelta(model.takeDelta(), replica);
  ASSERT_TRUE(applied.ok()) << applied.message();
  ASSERT_TRUE(sameMesh(replica, actual)) << step << " (replica fed by deltas)";
  EXPECT_TRUE(model.takeDelta().empty()) << step;
}

void runSequence(uint32_t seed, int steps) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  const LoaderOptions options{"cluster.local", "istio-system", "cluster.local"};
  Generator gen(seed);
  MeshModel model(options);
  Oracle oracle;
  v1::MeshSnapshot replica;
  std::vector<Json> fixtures;
  for (const std::string* yaml :
       {&test::meshYaml(), &test::seedVirtualService(), &test::canaryHttpRoute()}) {
    for (auto& j : testing::yamlDocsToJson(*yaml)) fixtures.push_back(std::move(j));
  }
  std::shuffle(fixtures.begin(), fixtures.end(), gen.rng());
  for (const auto& f : fixtures) {
    const UpsertResult r = model.upsert(f);
    ASSERT_NE(r.outcome, UpsertOutcome::kRejected) << objectKey(f);
    oracle.store(f);
  }
  expectEquivalent(model, oracle, oracle.translateAll(options), replica, "fixtures");
  for (int step = 0; step < steps; ++step) {
    const std::string at = "step " + std::to_string(step);
    UpsertResult last;  // of this step's upsert; empty object for a removal
    if (gen.chance(20) && !oracle.objects().empty()) {
      auto it = oracle.objects().begin();
      std::advance(it, gen.pick(static_cast<int>(oracle.objects().size())));
      const std::string key = it->first;
      const Json o = it->second.second;
      const std::string kind = o.at("kind");
      const std::string ns =
          kind == "Namespace" ? "" : o.at("metadata").value("namespace", "default");
      const std::string name = o.at("metadata").at("name");
      EXPECT_TRUE(model.remove(kind, ns, name)) << at;
      if (kind == "Pod") gen.forgetPod(ns + "/" + name);
      oracle.erase(key);
      EXPECT_FALSE(model.remove(kind, ns, name)) << at;
    } else {
      const Generated g = gen.chance(10) ? gen.namespaceObject() : gen.next();
      const UpsertResult r = model.upsert(g.object);
      last = r;
      if (g.bad) {
        EXPECT_EQ(r.outcome, UpsertOutcome::kRejected) << at << " " << objectKey(g.object);
        EXPECT_FALSE(r.errors.empty());
      } else {
        ASSERT_NE(r.outcome, UpsertOutcome::kRejected)
            << at << " " << objectKey(g.object) << ": " << r.errors.front().toString();
        oracle.store(g.object);
      }
    }
    const LoadResult expected = oracle.translateAll(options);
    if (!last.object.empty() && last.outcome != UpsertOutcome::kRejected) {
      EXPECT_EQ(last.outcome == UpsertOutcome::kPending,
                objectsOf(expected.errors).count(last.object) > 0)
          << at << " " << last.object;
    }
    expectEquivalent(model, oracle, expected, replica, at);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

TEST(MeshModelEquivalence, RandomSequencesMatchTranslate) {
  for (uint32_t seed = 1; seed <= 16; ++seed) {
    runSequence(seed, 120);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

// The same property from an empty model built only from the fixtures, in every rotation of
// their order: the result never depends on arrival order.
TEST(MeshModelEquivalence, FixturesInAnyOrderMatchTranslate) {
  std::vector<Json> fixtures;
  for (const std::string* yaml : {&test::meshYaml(), &test::seedVirtualService()}) {
    for (auto& j : testing::yamlDocsToJson(*yaml)) fixtures.push_back(std::move(j));
  }
  const LoadResult expected =
      translate({{"mesh.yaml", test::meshYaml()}, {"vs.yaml", test::seedVirtualService()}});
  ASSERT_TRUE(expected.ok());
  for (size_t rotation = 0; rotation < fixtures.size(); ++rotation) {
    MeshModel model;
    for (size_t i = 0; i < fixtures.size(); ++i) {
      EXPECT_NE(model.upsert(fixtures[(i + rotation) % fixtures.size()]).outcome,
                UpsertOutcome::kRejected);
    }
    EXPECT_TRUE(model.pendingErrors().empty()) << "rotation " << rotation;
    EXPECT_TRUE(sameMesh(model.snapshot(), expected.snapshot)) << "rotation " << rotation;
  }
}

}  // namespace
}  // namespace ambit::config
