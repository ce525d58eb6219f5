#pragma once
// Shared pieces of the discovery tests: a TLS test PKI written to files, servers over TLS
// loopback or unix sockets, a raw protocol client (the test plays the client side by hand),
// a recording ConfigSink and a config thread that runs a DiscoverySource like the pipeline.

#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <future>
#include <mutex>
#include <thread>

#include "ambit/v1/discovery.grpc.pb.h"
#include "common/config/mesh_resources.h"
#include "common/discovery/channel.h"
#include "common/discovery/client.h"
#include "common/discovery/resource_store.h"
#include "common/discovery/server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/test_pki.h"
#include "tests/support/wait.h"

namespace ambit::discovery::testing {

using namespace std::chrono_literals;
using config::MeshType;
using test::eventually;

inline constexpr auto kWait = std::chrono::seconds(15);

inline v1::Workload workload(const std::string& name, const std::string& ip = "10.0.0.1") {
  v1::Workload w;
  w.set_uid("default/" + name);
  w.set_name(name);
  w.set_namespace_("default");
  w.set_service_account(name);
  w.add_addresses(ip);
  (*w.mutable_labels())["app"] = name;
  return w;
}

inline v1::Service service(const std::string& name) {
  v1::Service s;
  s.set_name(name);
  s.set_namespace_("default");
  s.set_hostname(name + ".default.svc.cluster.local");
  return s;
}

inline void putWorkload(ResourceStore& store, const v1::Workload& w) {
  store.update(MeshType::kWorkload, {{config::resourceName(w), packResource(w)}}, {});
}

// Accepts every stream carrying the expected bearer token; records the tokens it saw.
class TokenAuthenticator final : public Authenticator {
 public:
  explicit TokenAuthenticator(std::string expected) : expected_(std::move(expected)) {}
  void authenticate(const CallerInfo& caller, Done done) override {
    std::string expected;
    {
      std::lock_guard lock(mu_);
      seen_.push_back(caller.bearer_token);
      expected = expected_;
    }
    if (caller.bearer_token.empty()) {
      done(makeError("no bearer token"));
    } else if (caller.bearer_token != expected) {
      done(makeError("token '{}' is not valid", caller.bearer_token));
    } else {
      Principal p;
      p.namespace_name = "ambit-system";
      p.service_account = "ambit-node";
      // Answer from another thread, as a TokenReview would.
      std::thread([done = std::move(done), p] { done(p); }).detach();
    }
  }
  std::vector<std::string> seen() const {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  mutable std::mutex mu_;
  std::string expected_;
  std::vector<std::string> seen_;
};

// A test CA and a serving certificate for 127.0.0.1, plus the CA and a token as files.
struct Tls {
  explicit Tls(const test::TempDir& dir, const std::string& ca_name = "discovery-test-ca")
      : pki(ca_name), server(pki.issueForIp("127.0.0.1")) {
    ca_file = dir.write(ca_name + ".pem", pki.caPem());
    token_file = dir.write(ca_name + "-token", "token-1\n");
  }
  ServerTls serverTls() const { return {server.cert_pem, server.key_pem}; }

  test::TestPki pki;
  test::CertKey server;
  std::filesystem::path ca_file;
  std::filesystem::path token_file;
};

inline std::unique_ptr<DiscoveryServer> startServer(std::shared_ptr<ResourceStore> store,
                                                    DiscoveryServerOptions options) {
  auto server = DiscoveryServer::start(std::move(store), std::move(options));
  EXPECT_TRUE(server) << server.error().message;
  return server ? std::move(*server) : nullptr;
}

// The client side of the protocol, by hand: the test decides when to ACK.
class RawClient {
 public:
  explicit RawClient(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::DiscoveryService::NewStub(channel)) {
    context_.set_deadline(std::chrono::system_clock::now() + kWait);
    stream_ = stub_->DeltaStream(&context_);
  }
  static std::unique_ptr<RawClient> overTls(const std::string& address, const Tls& tls) {
    auto channel = makeControlChannel(
        {.address = address, .control_ca = tls.ca_file, .token_file = tls.token_file});
    EXPECT_TRUE(channel) << channel.error().message;
    return std::make_unique<RawClient>(*channel);
  }

  bool subscribe(MeshType type, std::map<std::string, std::string> initial_versions = {},
                 const std::string& node = "node-1", std::vector<std::string> features = {}) {
    v1::DeltaDiscoveryRequest request;
    request.set_node(node);
    request.set_type_url(std::string(config::typeUrl(type)));
    request.add_subscribe("*");
    for (auto& f : features) request.add_client_features(std::move(f));
    request.mutable_initial_versions()->insert(initial_versions.begin(), initial_versions.end());
    return stream_->Write(request);
  }
  bool ack(const v1::DeltaDiscoveryResponse& response) {
    v1::DeltaDiscoveryRequest request;
    request.set_type_url(response.type_url());
    request.set_response_nonce(response.nonce());
    return stream_->Write(request);
  }
  bool nack(const v1::DeltaDiscoveryResponse& response, const std::string& message) {
    v1::DeltaDiscoveryRequest request;
    request.set_type_url(response.type_url());
    request.set_response_nonce(response.nonce());
    request.mutable_error_detail()->set_code(3);
    request.mutable_error_detail()->set_message(message);
    return stream_->Write(request);
  }
  // The next response; fails the test when the stream ends first.
  v1::DeltaDiscoveryResponse read() {
    v1::DeltaDiscoveryResponse response;
    EXPECT_TRUE(stream_->Read(&response)) << "stream ended: " << finish().error_message();
    return response;
  }
  grpc::Status finish() {
    stream_->WritesDone();
    v1::DeltaDiscoveryResponse ignored;
    while (stream_->Read(&ignored)) {
    }
    return stream_->Finish();
  }

 private:
  std::unique_ptr<v1::DiscoveryService::Stub> stub_;
  grpc::ClientContext context_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::DeltaDiscoveryRequest, v1::DeltaDiscoveryResponse>>
      stream_;
};

inline std::map<std::string, std::string> versionsOf(const v1::DeltaDiscoveryResponse& response) {
  std::map<std::string, std::string> out;
  for (const auto& r : response.resources()) out[r.name()] = r.version();
  return out;
}

inline std::vector<std::string> namesOf(const v1::DeltaDiscoveryResponse& response) {
  std::vector<std::string> out;
  for (const auto& r : response.resources()) out.push_back(r.name());
  return out;
}

class RecordingSink final : public config::ConfigSink {
 public:
  void publish(std::shared_ptr<const v1::MeshSnapshot> snapshot) override {
    std::lock_guard lock(mu_);
    published_.push_back(std::move(snapshot));
  }
  void reject(config::ConfigErrors errors) override {
    std::lock_guard lock(mu_);
    for (auto& e : errors) rejected_.push_back(std::move(e));
  }
  std::vector<std::shared_ptr<const v1::MeshSnapshot>> published() const {
    std::lock_guard lock(mu_);
    return published_;
  }
  size_t count() const { return published().size(); }
  std::shared_ptr<const v1::MeshSnapshot> last() const {
    std::lock_guard lock(mu_);
    return published_.empty() ? nullptr : published_.back();
  }
  config::ConfigErrors rejected() const {
    std::lock_guard lock(mu_);
    return rejected_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<const v1::MeshSnapshot>> published_;
  config::ConfigErrors rejected_;
};

// A config thread running one DiscoverySource, created, started and destroyed on that thread.
class SourceRunner {
  template <typename F>
  auto onThread(F&& f) {
    std::packaged_task<decltype(f())()> task(std::forward<F>(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

 public:
  SourceRunner() : work_(io_.get_executor()), thread_([this] { io_.run(); }) {}
  ~SourceRunner() {
    stop();
    work_.reset();
    thread_.join();
  }

  Status start(DiscoverySourceOptions options) {
    return onThread([&]() -> Status {
      source_ = std::make_unique<DiscoverySource>(std::move(options));
      status_ = source_->status();
      return source_->start(io_, sink_);
    });
  }
  void stop() {
    onThread([&] {
      source_.reset();
      return 0;
    });
  }
  const RecordingSink& sink() const { return sink_; }
  DiscoveryStatus::Values status() const {
    return status_ ? status_->get() : DiscoveryStatus::Values{};
  }

  // The last published snapshot once `pred` holds for it, or null after kWait.
  std::shared_ptr<const v1::MeshSnapshot> waitFor(
      const std::function<bool(const v1::MeshSnapshot&)>& pred) const {
    std::shared_ptr<const v1::MeshSnapshot> found;
    test::eventually(
        [&] {
          auto last = sink_.last();
          if (last && pred(*last)) found = last;
          return found != nullptr;
        },
        kWait, 10ms);
    return found;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  RecordingSink sink_;
  std::unique_ptr<DiscoverySource> source_;
  std::shared_ptr<const DiscoveryStatus> status_;
  std::thread thread_;
};

inline bool hasWorkload(const v1::MeshSnapshot& s, const std::string& name,
                        const std::string& ip = "") {
  for (const auto& w : s.workloads()) {
    if (w.name() == name && (ip.empty() || (w.addresses_size() > 0 && w.addresses(0) == ip))) {
      return true;
    }
  }
  return false;
}

}  // namespace ambit::discovery::testing
