// DiscoveryServer over real gRPC (TLS on loopback TCP, or a unix socket), with the test
// playing the client by hand: what is sent, when, and what ACK and NACK do.

#include "common/discovery/server.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <sys/stat.h>

#include <atomic>
#include <thread>

#include "common/discovery/service_membership.h"
#include "tests/support/log_capture.h"
#include "tests/unit/discovery/test_util.h"

namespace ambit::discovery {
namespace {

using namespace testing;

class DiscoveryServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    putWorkload(*store_, workload("a"));
    putWorkload(*store_, workload("b"));
    server_ = startServer(store_, {.address = "127.0.0.1:0",
                                   .tls = tls_.serverTls(),
                                   .authenticator = auth_,
                                   .metrics = metrics_});
    ASSERT_TRUE(server_);
  }

  std::unique_ptr<RawClient> client() { return RawClient::overTls(server_->address(), tls_); }

  test::TempDir dir_{"discovery-server"};
  Tls tls_{dir_};
  std::shared_ptr<ResourceStore> store_ = std::make_shared<ResourceStore>();
  std::shared_ptr<TokenAuthenticator> auth_ = std::make_shared<TokenAuthenticator>("token-1");
  std::shared_ptr<prometheus::Registry> metrics_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<DiscoveryServer> server_;
};

// The value of counter `name` with label type=`type`, or -1 when there is none.
double counterValue(prometheus::Registry& registry, const std::string& name,
                    const std::string& type) {
  for (const auto& family : registry.Collect()) {
    if (family.name != name) continue;
    for (const auto& metric : family.metric) {
      for (const auto& label : metric.label) {
        if (label.name == "type" && label.value == type) return metric.counter.value;
      }
    }
  }
  return -1;
}

TEST_F(DiscoveryServerTest, InitialSyncSendsEveryResourceOfTheType) {
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload));
  auto r = c->read();
  EXPECT_EQ(r.type_url(), config::typeUrl(MeshType::kWorkload));
  EXPECT_EQ(namesOf(r), (std::vector<std::string>{"default/a", "default/b"}));
  EXPECT_FALSE(r.nonce().empty());
  EXPECT_FALSE(r.system_version().empty());
  v1::Workload got;
  ASSERT_TRUE(r.resources(0).resource().UnpackTo(&got));
  EXPECT_EQ(got.name(), "a");
  // An empty type still answers, so that a client knows it is in sync.
  ASSERT_TRUE(c->subscribe(MeshType::kService));
  auto empty = c->read();
  EXPECT_EQ(empty.type_url(), config::typeUrl(MeshType::kService));
  EXPECT_EQ(empty.resources_size(), 0);
  EXPECT_EQ(auth_->seen(), std::vector<std::string>{"token-1"});
}

TEST_F(DiscoveryServerTest, UpdateSendsOnlyTheChangedNamesAfterAck) {
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload));
  auto first = c->read();
  ASSERT_TRUE(c->ack(first));
  ASSERT_TRUE(eventually([&] { return server_->stats().acks == 1; }, kWait));
  putWorkload(*store_, workload("b", "10.0.0.2"));
  putWorkload(*store_, workload("a"));  // same content: no change
  auto delta = c->read();
  EXPECT_EQ(namesOf(delta), std::vector<std::string>{"default/b"});
  EXPECT_EQ(delta.removed_size(), 0);
  EXPECT_NE(delta.resources(0).version(), versionsOf(first)["default/b"]);
  EXPECT_NE(delta.nonce(), first.nonce());
}

// A Service stored with its lean form (service_membership.h): a client with the feature gets
// it without endpoints and nothing when only the endpoints change; a client without it (an
// older one) gets every endpoint change, as before.
TEST_F(DiscoveryServerTest, LeanServicesGoOnlyToClientsThatRebuildEndpoints) {
  v1::Service svc = service("s");
  svc.add_endpoints("default/a");
  store_->update(MeshType::kService, {meshUpsert(MeshType::kService, "default/s", svc)}, {});
  auto lean = client();
  auto whole = client();
  ASSERT_TRUE(
      lean->subscribe(MeshType::kService, {}, "node-1", {std::string(kWorkloadServicesFeature)}));
  ASSERT_TRUE(whole->subscribe(MeshType::kService, {}, "node-2"));
  auto lean_first = lean->read();
  auto whole_first = whole->read();
  ASSERT_EQ(lean_first.resources_size(), 1);
  ASSERT_EQ(whole_first.resources_size(), 1);
  v1::Service got;
  ASSERT_TRUE(lean_first.resources(0).resource().UnpackTo(&got));
  EXPECT_EQ(got.endpoints_size(), 0);
  EXPECT_EQ(got.hostname(), "s.default.svc.cluster.local");
  ASSERT_TRUE(whole_first.resources(0).resource().UnpackTo(&got));
  EXPECT_EQ(got.endpoints_size(), 1);
  EXPECT_NE(lean_first.resources(0).version(), whole_first.resources(0).version());
  ASSERT_TRUE(lean->ack(lean_first));
  ASSERT_TRUE(whole->ack(whole_first));
  ASSERT_TRUE(eventually([&] { return server_->stats().acks == 2; }, kWait));

  // Only the endpoints change: the older client is told, the lean one is not.
  const uint64_t responses = server_->stats().responses;
  svc.add_endpoints("default/b");
  store_->update(MeshType::kService, {meshUpsert(MeshType::kService, "default/s", svc)}, {});
  auto whole_next = whole->read();
  ASSERT_TRUE(whole_next.resources(0).resource().UnpackTo(&got));
  EXPECT_EQ(got.endpoints_size(), 2);
  // Then a change the lean form carries: the lean client's next response is that one.
  svc.set_hostname("s2.default.svc.cluster.local");
  store_->update(MeshType::kService, {meshUpsert(MeshType::kService, "default/s", svc)}, {});
  auto lean_next = lean->read();
  ASSERT_TRUE(lean_next.resources(0).resource().UnpackTo(&got));
  EXPECT_EQ(got.hostname(), "s2.default.svc.cluster.local");
  EXPECT_EQ(got.endpoints_size(), 0);
  EXPECT_EQ(server_->stats().responses, responses + 2);  // whole_next, lean_next

  // Resuming with the lean version it holds, the lean client is sent nothing new.
  auto again = client();
  ASSERT_TRUE(again->subscribe(MeshType::kService,
                               {{"default/s", lean_next.resources(0).version()}}, "node-1",
                               {std::string(kWorkloadServicesFeature)}));
  EXPECT_EQ(again->read().resources_size(), 0);
}

TEST_F(DiscoveryServerTest, RemovalIsSentByName) {
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload));
  ASSERT_TRUE(c->ack(c->read()));
  store_->update(MeshType::kWorkload, {}, {"default/a", "default/unknown"});
  auto delta = c->read();
  EXPECT_EQ(delta.resources_size(), 0);
  EXPECT_EQ(std::vector<std::string>(delta.removed().begin(), delta.removed().end()),
            std::vector<std::string>{"default/a"});
}

TEST_F(DiscoveryServerTest, NackIsLoggedCountedAndNotResent) {
  test::LogCapture log;
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload, {}, "node-7"));
  auto first = c->read();
  ASSERT_TRUE(c->nack(first, "workload default/a: bad address"));
  ASSERT_TRUE(eventually([&] { return server_->stats().nacks == 1; }, kWait));
  EXPECT_EQ(server_->stats().acks, 0u);
  EXPECT_EQ(counterValue(*metrics_, "ambit_discovery_nacks_total", "Workload"), 1);
  EXPECT_EQ(counterValue(*metrics_, "ambit_discovery_nacks_total", "Service"), 0);
  std::string text = log.text();
  EXPECT_NE(text.find("node-7"), std::string::npos) << text;
  EXPECT_NE(text.find("workload default/a: bad address"), std::string::npos) << text;
  // The next response carries the next change only, not the rejected versions again.
  putWorkload(*store_, workload("c"));
  auto next = c->read();
  EXPECT_EQ(namesOf(next), std::vector<std::string>{"default/c"});
}

TEST_F(DiscoveryServerTest, ResumeSendsOnlyWhatChangedOrWentAway) {
  std::map<std::string, std::string> held;
  {
    auto c = client();
    ASSERT_TRUE(c->subscribe(MeshType::kWorkload));
    held = versionsOf(c->read());
    ASSERT_EQ(held.size(), 2u);
  }
  // While the client was away: b changed, a went away, d appeared; and it holds one the
  // server never had.
  putWorkload(*store_, workload("b", "10.0.0.9"));
  store_->update(MeshType::kWorkload, {}, {"default/a"});
  putWorkload(*store_, workload("d"));
  held["default/ghost"] = "0123";
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload, held));
  auto r = c->read();
  EXPECT_EQ(namesOf(r), (std::vector<std::string>{"default/b", "default/d"}));
  std::set<std::string> removed(r.removed().begin(), r.removed().end());
  EXPECT_EQ(removed, (std::set<std::string>{"default/a", "default/ghost"}));
}

TEST_F(DiscoveryServerTest, ResumeInSyncGetsAnEmptyAnswer) {
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload));
  auto held = versionsOf(c->read());
  auto again = client();
  ASSERT_TRUE(again->subscribe(MeshType::kWorkload, held));
  auto r = again->read();
  EXPECT_EQ(r.resources_size(), 0);
  EXPECT_EQ(r.removed_size(), 0);
}

TEST_F(DiscoveryServerTest, ChangesWhileAnAckIsPendingAreCoalesced) {
  auto c = client();
  ASSERT_TRUE(c->subscribe(MeshType::kWorkload));
  auto first = c->read();
  uint64_t sent_before = server_->stats().responses;
  for (int i = 0; i < 100; ++i) {
    putWorkload(*store_, workload("b", fmt::format("10.1.0.{}", i)));
    putWorkload(*store_, workload(fmt::format("n{}", i)));
  }
  store_->update(MeshType::kWorkload, {}, {"default/n0"});
  // Nothing can have been sent for the type while its response is un-ACKed.
  EXPECT_EQ(server_->stats().responses, sent_before);
  ASSERT_TRUE(c->ack(first));
  auto merged = c->read();
  EXPECT_EQ(merged.resources_size(), 100);  // b and n1..n99, each once, at its final version
  auto versions = versionsOf(merged);
  EXPECT_EQ(versions["default/b"], store_->view(MeshType::kWorkload)->find("default/b")->version);
  EXPECT_EQ(versions.count("default/n0"), 0u);
  v1::Workload b;
  for (const auto& r : merged.resources()) {
    if (r.name() == "default/b") {
      ASSERT_TRUE(r.resource().UnpackTo(&b));
    }
  }
  EXPECT_EQ(b.addresses(0), "10.1.0.99");
  EXPECT_EQ(server_->stats().responses, sent_before + 1);
}

TEST_F(DiscoveryServerTest, RefusedStreamEndsUnauthenticatedWithTheReason) {
  dir_.write("discovery-test-ca-token", "stolen\n");
  auto c = client();
  c->subscribe(MeshType::kWorkload);
  grpc::Status status = c->finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("token 'stolen' is not valid"), std::string::npos)
      << status.error_message();
  EXPECT_TRUE(eventually([&] { return server_->stats().streams_refused == 1; }, kWait));
}

TEST_F(DiscoveryServerTest, UnknownTypeUrlEndsTheStreamWithInvalidArgument) {
  // A request for a type ambit does not serve.
  auto channel = makeControlChannel(
      {.address = server_->address(), .control_ca = tls_.ca_file, .token_file = tls_.token_file});
  ASSERT_TRUE(channel);
  auto stub = v1::DiscoveryService::NewStub(*channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + kWait);
  auto stream = stub->DeltaStream(&ctx);
  v1::DeltaDiscoveryRequest request;
  request.set_type_url("type.googleapis.com/ambit.v1.Nope");
  request.add_subscribe("*");
  ASSERT_TRUE(stream->Write(request));
  v1::DeltaDiscoveryResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("ambit.v1.Nope"), std::string::npos);
}

TEST(DiscoveryServerUnix, ServesOnAPrivateSocketAndAllowLocalRefusesTcp) {
  test::TempDir dir("discovery-unix");
  auto path = dir.path() / "run" / "node-1" / "discovery.sock";
  dir.write("run/node-1/discovery.sock", "");  // not a socket: refused, never replaced
  auto store = std::make_shared<ResourceStore>();
  putWorkload(*store, workload("a"));
  auto refused = DiscoveryServer::start(
      store, {.address = "unix:" + path.string(), .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("not a socket"), std::string::npos);
  std::filesystem::remove(path);

  auto server = startServer(
      store, {.address = "unix:" + path.string(), .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_TRUE(server);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  auto channel = makeControlChannel({.address = server->address()});
  ASSERT_TRUE(channel);
  RawClient c(*channel);
  ASSERT_TRUE(c.subscribe(MeshType::kWorkload));
  EXPECT_EQ(namesOf(c.read()), std::vector<std::string>{"default/a"});

  // A stale socket from a previous run is replaced.
  server.reset();
  server = startServer(
      store, {.address = "unix:" + path.string(), .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_TRUE(server);

  // AllowLocal on TCP by mistake stays closed.
  Tls tls(dir);
  auto tcp = startServer(store, {.address = "127.0.0.1:0",
                                 .tls = tls.serverTls(),
                                 .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_TRUE(tcp);
  auto remote = RawClient::overTls(tcp->address(), tls);
  remote->subscribe(MeshType::kWorkload);
  grpc::Status status = remote->finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(status.error_message().find("only local callers"), std::string::npos)
      << status.error_message();
}

TEST(DiscoveryServerOptions, TcpWithoutTlsIsRefused) {
  auto server = DiscoveryServer::start(
      std::make_shared<ResourceStore>(),
      {.address = "127.0.0.1:0", .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_FALSE(server);
  EXPECT_NE(server.error().message.find("needs a TLS certificate"), std::string::npos);
}

TEST(DiscoveryServerReadiness, NothingIsServedBeforeTheStoreIsReady) {
  test::TempDir dir("discovery-ready");
  auto store = std::make_shared<ResourceStore>(/*ready=*/false);
  auto server = startServer(store, {.address = "unix:" + dir.file("d.sock"),
                                    .authenticator = std::make_shared<AllowLocal>()});
  ASSERT_TRUE(server);
  auto channel = makeControlChannel({.address = server->address()});
  ASSERT_TRUE(channel);
  RawClient c(*channel);
  ASSERT_TRUE(c.subscribe(MeshType::kWorkload));
  // The subscription has been handled (and answered, were the store ready).
  ASSERT_TRUE(eventually([&] { return server->stats().requests == 1; }, kWait));
  EXPECT_EQ(server->stats().responses, 0u);
  putWorkload(*store, workload("a"));
  store->markReady();
  EXPECT_EQ(namesOf(c.read()), std::vector<std::string>{"default/a"});
}

}  // namespace
}  // namespace ambit::discovery

namespace ambit::discovery {
namespace {

using namespace testing;

// The stream logic runs in gRPC's reaction threads and in the server's push pass at once (a
// lock per stream): several clients ACKing as fast as they can while the store changes from
// another thread must each end holding exactly the store's final state, no change lost.
TEST_F(DiscoveryServerTest, ConcurrentStreamsUnderChurnEndHoldingTheStoreState) {
  constexpr int kClients = 4;
  constexpr int kUpdates = 400;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(client());
    ASSERT_TRUE(clients.back()->subscribe(MeshType::kWorkload, {}, fmt::format("node-{}", i)));
  }
  std::map<std::string, std::string> expected;  // written before `churn_done`
  std::atomic<bool> churn_done{false};
  std::vector<std::map<std::string, std::string>> held(kClients);
  std::vector<std::thread> readers;
  for (int i = 0; i < kClients; ++i) {
    readers.emplace_back([&, i] {
      while (!(churn_done.load() && held[i] == expected)) {
        v1::DeltaDiscoveryResponse r = clients[i]->read();
        if (r.type_url().empty()) return;  // the stream ended (read() reported it)
        for (const auto& resource : r.resources()) held[i][resource.name()] = resource.version();
        for (const auto& name : r.removed()) held[i].erase(name);
        if (!clients[i]->ack(r)) return;
      }
    });
  }
  for (int u = 0; u < kUpdates; ++u) {
    const std::string name = fmt::format("w{}", u % 37);
    if (u % 11 == 0) {
      store_->update(MeshType::kWorkload, {}, {"default/" + name});
    } else {
      putWorkload(*store_, workload(name, fmt::format("10.1.{}.{}", u / 250, u % 250)));
    }
  }
  // A last change made after `churn_done` is set: every client gets a response after it.
  const v1::Workload last = workload("last", "10.2.0.1");
  {
    ResourceStore probe;
    putWorkload(probe, last);
    store_->view(MeshType::kWorkload)
        ->forEach(
            [&](const std::string& name, const StoredResource& r) { expected[name] = r.version; });
    probe.view(MeshType::kWorkload)->forEach([&](const std::string& name, const StoredResource& r) {
      expected[name] = r.version;
    });
  }
  churn_done = true;
  putWorkload(*store_, last);
  for (auto& reader : readers) reader.join();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(held[i], expected) << "client " << i;
  EXPECT_EQ(server_->stats().nacks, 0u);
}

}  // namespace
}  // namespace ambit::discovery
