// DiscoverySource against real DiscoveryServers over TLS on loopback (and unix sockets), run
// on its own config thread like the pipeline runs it.

#include "common/discovery/client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/discovery/channel.h"
#include "common/discovery/grpc_client_stream.h"
#include "common/discovery/lite_client_stream.h"
#include "common/discovery/relay.h"
#include "common/discovery/service_membership.h"
#include "common/discovery/snapshot_file.h"
#include "tests/support/log_capture.h"
#include "tests/unit/discovery/test_util.h"

namespace ambit::discovery {
namespace {

using namespace testing;

void seed(ResourceStore& store) {
  v1::MeshSnapshot settings;
  settings.set_trust_domain("cluster.local");
  settings.set_root_namespace("istio-system");
  store.update(MeshType::kSettings, {{std::string(config::kSettingsName), packResource(settings)}},
               {});
  putWorkload(store, workload("a"));
  putWorkload(store, workload("b"));
  store.update(MeshType::kService, {{"default/s", packResource(service("s"))}}, {});
}

class DiscoverySourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed(*store_);
    server_ = startServer(store_, serverOptions());
    ASSERT_TRUE(server_);
  }

  DiscoveryServerOptions serverOptions() {
    return {.address = "127.0.0.1:0", .tls = tls_.serverTls(), .authenticator = auth_};
  }

  DiscoverySourceOptions options(std::vector<std::string> addresses) {
    DiscoverySourceOptions o;
    o.addresses = std::move(addresses);
    o.streams = grpcStreams();
    o.control_ca = tls_.ca_file;
    o.token_file = tls_.token_file;
    o.node = "node-1";
    o.initial_backoff = 20ms;
    o.max_backoff = 200ms;
    o.seed = 7;
    return o;
  }

  // The ztunnel's client of its node agent's relay.
  static DiscoverySourceOptions relayClient(const Relay& relay) {
    DiscoverySourceOptions o;
    o.addresses = {relay.address()};
    o.streams = liteStreams();  // as the ztunnel: grpc_lite against gRPC's server
    o.node = "node-1";
    o.initial_backoff = 20ms;
    return o;
  }

  test::TempDir dir_{"discovery-client"};
  Tls tls_{dir_};
  std::shared_ptr<ResourceStore> store_ = std::make_shared<ResourceStore>();
  std::shared_ptr<TokenAuthenticator> auth_ = std::make_shared<TokenAuthenticator>("token-1");
  std::unique_ptr<DiscoveryServer> server_;
  SourceRunner runner_;
};

TEST_F(DiscoverySourceTest, PublishesAWholeMeshOnceEveryTypeAnswered) {
  ASSERT_TRUE(runner_.start(options({server_->address()})));
  auto s = runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->trust_domain(), "cluster.local");
  EXPECT_EQ(s->root_namespace(), "istio-system");
  ASSERT_EQ(s->services_size(), 1);
  EXPECT_EQ(s->services(0).hostname(), "s.default.svc.cluster.local");
  EXPECT_TRUE(hasWorkload(*s, "a") && hasWorkload(*s, "b"));
  // The first publish already held everything: no partial mesh before it.
  EXPECT_EQ(runner_.sink().count(), 1u);
  EXPECT_TRUE(eventually([&] { return server_->stats().acks == config::kMeshTypes.size(); }));
  EXPECT_TRUE(runner_.status().connected);
  EXPECT_EQ(runner_.status().server, server_->address());
  EXPECT_EQ(s->version().size(), 16u);
}

TEST_F(DiscoverySourceTest, PublishesUpdatesAndRemovals) {
  ASSERT_TRUE(runner_.start(options({server_->address()})));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  putWorkload(*store_, workload("b", "10.0.0.2"));
  store_->update(MeshType::kWorkload, {}, {"default/a"});
  auto s = runner_.waitFor([](const v1::MeshSnapshot& s) {
    return !hasWorkload(s, "a") && hasWorkload(s, "b", "10.0.0.2");
  });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->services_size(), 1);
  EXPECT_NE(s->version(), runner_.sink().published().front()->version());
}

TEST_F(DiscoverySourceTest, NacksABadResourceAndKeepsTheLastGood) {
  ASSERT_TRUE(runner_.start(options({server_->address()})));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  size_t published = runner_.sink().count();
  // A Service where a Workload belongs.
  store_->update(MeshType::kWorkload, {{"default/bad", packResource(service("bad"))}}, {});
  ASSERT_TRUE(eventually([&] { return server_->stats().nacks == 1; }, kWait));
  EXPECT_EQ(runner_.status().nacks, 1u);
  ASSERT_TRUE(eventually([&] { return !runner_.sink().rejected().empty(); }, kWait));
  EXPECT_NE(runner_.sink().rejected()[0].reason.find("default/bad"), std::string::npos)
      << runner_.sink().rejected()[0].reason;
  EXPECT_EQ(runner_.sink().count(), published);
  // Later good changes still apply; the rejected resource never shows up.
  putWorkload(*store_, workload("c"));
  auto s = runner_.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "c"); });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->workloads_size(), 3);
}

TEST_F(DiscoverySourceTest, AuthenticationRefusalReachesTheClient) {
  dir_.write("discovery-test-ca-token", "wrong");
  ASSERT_TRUE(runner_.start(options({server_->address()})));
  ASSERT_TRUE(eventually(
      [&] {
        return runner_.status().last_error.find("token 'wrong' is not valid") != std::string::npos;
      },
      kWait))
      << runner_.status().last_error;
  EXPECT_EQ(runner_.sink().count(), 0u);
  EXPECT_FALSE(runner_.status().connected);
}

TEST_F(DiscoverySourceTest, RotatedTokenIsReadOnReconnect) {
  dir_.write("discovery-test-ca-token", "expired");
  ASSERT_TRUE(runner_.start(options({server_->address()})));
  ASSERT_TRUE(eventually(
      [&] { return runner_.status().last_error.find("expired") != std::string::npos; }, kWait));
  dir_.write("discovery-test-ca-token", "token-1");  // the kubelet rotated the projected token
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  auto seen = auth_->seen();
  ASSERT_GE(seen.size(), 2u);
  EXPECT_EQ(seen.front(), "expired");
  EXPECT_EQ(seen.back(), "token-1");
}

TEST_F(DiscoverySourceTest, FailsOverToTheOtherReplicaWithoutRepublishing) {
  auto store_b = std::make_shared<ResourceStore>();
  seed(*store_b);
  auto server_b = startServer(store_b, serverOptions());
  ASSERT_TRUE(server_b);
  ASSERT_TRUE(runner_.start(options({server_->address(), server_b->address()})));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  EXPECT_EQ(runner_.status().server, server_->address());

  server_->shutdown();  // replica A goes away
  // B answers every type (with nothing: the client resumed with what it holds) and is ACKed.
  ASSERT_TRUE(
      eventually([&] { return server_b->stats().acks == config::kMeshTypes.size(); }, kWait));
  EXPECT_EQ(runner_.status().server, server_b->address());
  EXPECT_EQ(runner_.sink().count(), 1u);  // the same mesh is not published again

  putWorkload(*store_b, workload("c"));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "c"); }));
  EXPECT_EQ(runner_.sink().count(), 2u);
}

TEST_F(DiscoverySourceTest, OneGrpcAddressListFailsOverBetweenReplicasItNamesByItsFirstHost) {
  auto store_b = std::make_shared<ResourceStore>();
  seed(*store_b);
  auto server_b = startServer(store_b, serverOptions());
  ASSERT_TRUE(server_b);
  // One target, as a Service in front of the replicas: gRPC picks the first that answers.
  const std::string list =
      fmt::format("ipv4:127.0.0.1:{},127.0.0.1:{}", server_->port(), server_b->port());
  ASSERT_TRUE(runner_.start(options({list})));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  server_->shutdown();
  ASSERT_TRUE(
      eventually([&] { return server_b->stats().acks == config::kMeshTypes.size(); }, kWait))
      << runner_.status().last_error;
  putWorkload(*store_b, workload("c"));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "c"); }));
}

TEST(ControlChannel, FirstHostOfAnAddressListIsTheNameChecked) {
  EXPECT_EQ(firstHostOfAddressList("ipv4:10.0.0.1:15012,10.0.0.2:15012"), "10.0.0.1");
  EXPECT_EQ(firstHostOfAddressList("ipv6:[fd00::1]:15012,[fd00::2]:15012"), "fd00::1");
  EXPECT_EQ(firstHostOfAddressList("ipv4:10.0.0.1:15012"), "");  // gRPC checks it as is
  EXPECT_EQ(firstHostOfAddressList("10.0.0.1:15012"), "");
  EXPECT_EQ(firstHostOfAddressList("dns:///ambit-control:15012"), "");
  EXPECT_EQ(firstHostOfAddressList("ipv6:[fd00::1,[::2]:1"), "");  // malformed: no override
}

TEST_F(DiscoverySourceTest, WrongCaIsAClearTlsError) {
  Tls other(dir_, "other-ca");
  auto o = options({server_->address()});
  o.control_ca = other.ca_file;
  ASSERT_TRUE(runner_.start(o));
  ASSERT_TRUE(eventually([&] { return !runner_.status().last_error.empty(); }, kWait));
  std::string error = runner_.status().last_error;
  EXPECT_NE(error.find(server_->address()), std::string::npos) << error;
  EXPECT_NE(error.find("does not chain to the root in --control-ca"), std::string::npos) << error;
  EXPECT_EQ(runner_.sink().count(), 0u);
}

TEST_F(DiscoverySourceTest, RotatedServingCertificateIsServedWithoutRestart) {
  // The server starts with a certificate from a CA the client does not trust yet (say, the
  // control plane's CA was just replaced), from watched files.
  Tls next(dir_, "next-ca");
  auto cert = dir_.write("serving/cert.pem", tls_.server.cert_pem);
  auto key = dir_.write("serving/key.pem", tls_.server.key_pem);
  ServerTls watched;
  watched.cert_chain_file = cert;
  watched.key_file = key;
  watched.refresh = 1s;
  auto server =
      startServer(store_, {.address = "127.0.0.1:0", .tls = watched, .authenticator = auth_});
  ASSERT_TRUE(server);
  auto o = options({server->address()});
  o.control_ca = next.ca_file;
  ASSERT_TRUE(runner_.start(o));
  ASSERT_TRUE(eventually(
      [&] { return runner_.status().last_error.find("does not chain") != std::string::npos; },
      kWait));
  EXPECT_EQ(runner_.sink().count(), 0u);
  dir_.write("serving/key.pem", next.server.key_pem);
  dir_.write("serving/cert.pem", next.server.cert_pem);
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
}

TEST(DiscoveryServerTls, UnreadableCertificateFilesAreRefusedAtStart) {
  test::TempDir dir("discovery-tls");
  ServerTls watched;
  watched.cert_chain_file = dir.write("cert.pem", "not a certificate");
  watched.key_file = dir.path() / "missing.pem";
  auto server = DiscoveryServer::start(
      std::make_shared<ResourceStore>(),
      {.address = "127.0.0.1:0", .tls = watched, .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("no PEM certificate in"), std::string::npos)
      << server.error().message;
}

TEST_F(DiscoverySourceTest, ServerNameIsChecked) {
  // The serving certificate names 127.0.0.1 only.
  auto o = options({fmt::format("localhost:{}", server_->port())});
  ASSERT_TRUE(runner_.start(o));
  ASSERT_TRUE(eventually([&] { return !runner_.status().last_error.empty(); }, kWait));
  std::string error = runner_.status().last_error;
  EXPECT_NE(error.find("not issued for the name dialed"), std::string::npos) << error;
  EXPECT_EQ(runner_.sink().count(), 0u);
}

TEST_F(DiscoverySourceTest, BadOptionsFailStart) {
  auto no_ca = options({server_->address()});
  no_ca.control_ca.clear();
  Status st = runner_.start(no_ca);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("--control-ca"), std::string::npos) << st.message();
  Status none = runner_.start(options({}));
  ASSERT_FALSE(none);
  EXPECT_NE(none.message().find("--discovery-address"), std::string::npos);
}

TEST_F(DiscoverySourceTest, PersistedSnapshotCarriesARestartWhileTheControlPlaneIsDown) {
  auto o = options({server_->address()});
  o.snapshot_file = dir_.path() / "state" / "mesh.snapshot";
  ASSERT_TRUE(runner_.start(o));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  runner_.stop();
  auto persisted = readSnapshotFile(o.snapshot_file);
  ASSERT_TRUE(persisted) << persisted.error().message;
  EXPECT_EQ(persisted->snapshot.workloads_size(), 2);

  // The control plane is down when the agent restarts.
  std::string socket = dir_.file("control.sock");
  auto down = options({"unix:" + socket});
  down.snapshot_file = o.snapshot_file;
  down.persisted_after = 50ms;
  test::LogCapture log;
  SourceRunner restarted;
  ASSERT_TRUE(restarted.start(down));
  auto s = restarted.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; });
  ASSERT_TRUE(s);
  EXPECT_EQ(s->trust_domain(), "cluster.local");
  EXPECT_TRUE(restarted.status().from_persisted);
  EXPECT_NE(log.text().find("running from the persisted snapshot"), std::string::npos);

  // It comes back with changes: only those travel, and the mesh moves on.
  store_->update(MeshType::kWorkload, {}, {"default/a"});
  putWorkload(*store_, workload("c"));
  auto local = startServer(
      store_, {.address = "unix:" + socket, .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_TRUE(local);
  auto moved = restarted.waitFor(
      [](const v1::MeshSnapshot& s) { return hasWorkload(s, "c") && !hasWorkload(s, "a"); });
  ASSERT_TRUE(moved);
  EXPECT_FALSE(restarted.status().from_persisted);
  EXPECT_EQ(moved->services_size(), 1);
  EXPECT_EQ(restarted.sink().count(), 2u);
}

TEST_F(DiscoverySourceTest, PersistingIsRateLimitedAndStopWritesTheLatestVersion) {
  auto o = options({server_->address()});
  o.snapshot_file = dir_.path() / "mesh.snapshot";
  ASSERT_TRUE(runner_.start(o));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; }));
  // Two more versions well within a second of the first write: the file may lag behind them
  // while the source runs (at most one write a second), but not after it stops.
  putWorkload(*store_, workload("c"));
  ASSERT_TRUE(runner_.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "c"); }));
  putWorkload(*store_, workload("d"));
  auto last = runner_.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "d"); });
  ASSERT_TRUE(last);
  runner_.stop();
  auto persisted = readSnapshotFile(o.snapshot_file);
  ASSERT_TRUE(persisted) << persisted.error().message;
  EXPECT_EQ(persisted->snapshot.version(), last->version());
  EXPECT_EQ(persisted->snapshot.workloads_size(), 4);
}

TEST_F(DiscoverySourceTest, CorruptPersistedSnapshotIsReportedAndIgnored) {
  auto file = dir_.write("mesh.snapshot", "ambit-mesh-snapshot v1 1 00 5\nhello");
  auto o = options({"unix:" + dir_.file("nobody.sock")});
  o.snapshot_file = file;
  o.persisted_after = 1ms;
  test::LogCapture log;
  ASSERT_TRUE(runner_.start(o));
  // Several attempts later (each after the persisted_after bound), still nothing published.
  ASSERT_TRUE(eventually([&] { return runner_.status().streams >= 3; }, kWait));
  EXPECT_EQ(runner_.sink().count(), 0u);
  EXPECT_NE(log.text().find("is corrupt (checksum mismatch)"), std::string::npos) << log.text();
}

TEST_F(DiscoverySourceTest, RelayServesTheAgentsMeshToItsZtunnel) {
  // The agent: a DiscoverySource from ambit-control, each snapshot pushed into its relay.
  ASSERT_TRUE(runner_.start(options({server_->address()})));
  auto relay = Relay::start("unix:" + dir_.file("run/node-1/discovery.sock"), "node-1");
  ASSERT_TRUE(relay) << relay.error().message;
  SourceRunner ztunnel;
  ASSERT_TRUE(ztunnel.start(relayClient(**relay)));
  auto first = runner_.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; });
  ASSERT_TRUE(first);
  // Nothing reaches the ztunnel before the agent has a mesh.
  EXPECT_EQ(ztunnel.sink().count(), 0u);
  (*relay)->push(*first);
  auto z = ztunnel.waitFor([](const v1::MeshSnapshot& s) { return s.workloads_size() == 2; });
  ASSERT_TRUE(z);
  EXPECT_EQ(z->trust_domain(), "cluster.local");

  putWorkload(*store_, workload("c"));
  auto second = runner_.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "c"); });
  ASSERT_TRUE(second);
  uint64_t before = (*relay)->stats().responses;
  (*relay)->push(*second);
  ASSERT_TRUE(ztunnel.waitFor([](const v1::MeshSnapshot& s) { return hasWorkload(s, "c"); }));
  EXPECT_EQ((*relay)->stats().responses, before + 1);  // only the Workload type moved
}

// ambit-control's wire form (service_membership.h): Services without endpoints, Workloads
// naming their Services. The client's mesh has the endpoints, keeps them as workloads move, and
// so do the relay's ztunnel and a restart from the persisted snapshot with the server down.
TEST_F(DiscoverySourceTest, ServiceEndpointsAreRebuiltFromTheWorkloadsThatListThem) {
  auto member = [](const std::string& name, std::vector<std::string> services) {
    v1::Workload w = workload(name);
    for (auto& s : services) w.add_services(std::move(s));
    return w;
  };
  // What ambit-control stores: the Service with its endpoints and its lean form. The
  // endpoints stored here are wrong on purpose: only the lean form may reach this client.
  v1::Service full = service("s");
  full.add_endpoints("default/zz");
  store_->update(MeshType::kService, {meshUpsert(MeshType::kService, "default/s", full)}, {});
  putWorkload(*store_, member("a", {"default/s"}));
  auto endpoints = [](const v1::MeshSnapshot& s) {
    std::vector<std::string> out;
    for (const auto& svc : s.services()) out.assign(svc.endpoints().begin(), svc.endpoints().end());
    return out;
  };
  auto o = options({server_->address()});
  o.snapshot_file = dir_.path() / "mesh.snapshot";
  ASSERT_TRUE(runner_.start(o));
  auto first = runner_.waitFor([&](const v1::MeshSnapshot& s) {
    return endpoints(s) == std::vector<std::string>{"default/a"};
  });
  ASSERT_TRUE(first);

  // b joins, a leaves: only Workloads change.
  putWorkload(*store_, member("b", {"default/s"}));
  putWorkload(*store_, member("a", {}));
  auto moved = runner_.waitFor([&](const v1::MeshSnapshot& s) {
    return endpoints(s) == std::vector<std::string>{"default/b"};
  });
  ASSERT_TRUE(moved);

  // The relay serves the agent's mesh in the same form; the ztunnel sees the same endpoints.
  auto relay = Relay::start("unix:" + dir_.file("run/node-1/discovery.sock"), "node-1");
  ASSERT_TRUE(relay) << relay.error().message;
  (*relay)->push(*moved);
  SourceRunner ztunnel;
  ASSERT_TRUE(ztunnel.start(relayClient(**relay)));
  ASSERT_TRUE(ztunnel.waitFor([&](const v1::MeshSnapshot& s) {
    return endpoints(s) == std::vector<std::string>{"default/b"};
  }));
  runner_.stop();

  // Restarted with the control plane down: the persisted mesh still has the endpoints.
  auto down = options({"unix:" + dir_.file("gone.sock")});
  down.snapshot_file = o.snapshot_file;
  down.persisted_after = 50ms;
  SourceRunner restarted;
  ASSERT_TRUE(restarted.start(down));
  ASSERT_TRUE(restarted.waitFor([&](const v1::MeshSnapshot& s) {
    return endpoints(s) == std::vector<std::string>{"default/b"};
  }));
}

}  // namespace
}  // namespace ambit::discovery
