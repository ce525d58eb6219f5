#include "tests/unit/ztunnel/harness.h"

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>

#include "common/config/loader.h"

namespace ambit::ztunnel::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

const char kWaypointYaml[] = R"(
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default, labels: {istio.io/use-waypoint: waypoint}}
spec:
  selector: {app: reviews}
  clusterIP: 10.96.0.30
  ports: [{port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: default}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: IPAddress, value: 10.1.0.9}]
---
# A waypoint as ambit-control deploys it: the Gateway's address is its Service's VIP.
apiVersion: v1
kind: Service
metadata: {name: ratings, namespace: default, labels: {istio.io/use-waypoint: deployed}}
spec:
  selector: {app: ratings}
  clusterIP: 10.96.0.31
  ports: [{port: 9080}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: deployed, namespace: default}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
status:
  addresses: [{type: IPAddress, value: 10.96.0.40}]
---
apiVersion: v1
kind: Service
metadata: {name: deployed, namespace: default}
spec:
  selector: {gateway.networking.k8s.io/gateway-name: deployed}
  clusterIP: 10.96.0.40
  ports: [{name: mesh, port: 15008}]
---
apiVersion: v1
kind: Pod
metadata:
  name: deployed-7d9f
  namespace: default
  labels: {gateway.networking.k8s.io/gateway-name: deployed, istio.io/dataplane-mode: none}
spec: {nodeName: node2, serviceAccountName: deployed}
status: {podIP: 10.1.0.20}
)";

v1::PodInfo podInfo(const std::string& name, const std::string& service_account,
                    const std::vector<std::string>& ips) {
  v1::PodInfo info;
  info.set_uid("default/" + name);
  info.set_name(name);
  info.set_namespace_("default");
  info.set_service_account(service_account);
  for (const auto& ip : ips) info.add_addresses(ip);
  return info;
}

std::shared_ptr<Pod> makePod(const std::string& name, const std::string& service_account,
                             const std::vector<std::string>& ips, bool with_cert) {
  auto pod = std::make_shared<Pod>();
  pod->info = podInfo(name, service_account, ips);
  for (const auto& ip : ips) pod->ips.push_back(asio::ip::make_address(ip));
  pod->spiffe_id = "spiffe://cluster.local/ns/default/sa/" + service_account;
  pod->tls = std::make_shared<identity::IdentityTls>();
  if (with_cert) pod->tls->cert = std::make_shared<const identity::WorkloadCertificate>();
  return pod;
}

asio::awaitable<Exchange> exchange(tcp::socket& socket, std::string send) {
  Exchange x;
  boost::system::error_code ec;
  if (!send.empty()) {
    co_await asio::async_write(socket, asio::buffer(send),
                               asio::redirect_error(asio::use_awaitable, ec));
    socket.shutdown(tcp::socket::shutdown_send, ec);
  }
  co_await asio::async_read(socket, asio::dynamic_buffer(x.received),
                            asio::redirect_error(asio::use_awaitable, x.end));
  co_return x;
}

void ProxyTest::applyMesh(const std::string& extra_yaml) {
  std::vector<config::SourceDocument> docs{{"mesh.yaml", test::meshYaml()},
                                           {"waypoint.yaml", kWaypointYaml}};
  if (!extra_yaml.empty()) docs.push_back({"extra.yaml", extra_yaml});
  config::LoadResult loaded = config::translate(docs);
  for (const auto& e : loaded.errors) ADD_FAILURE() << e.toString();
  auto prepared =
      prepareConfig(std::make_shared<const v1::MeshSnapshot>(std::move(loaded.snapshot)));
  ASSERT_TRUE(prepared) << prepared.error().message;
  config.set(std::make_shared<const ZtunnelConfig>(std::move(*prepared)));
}

bool ProxyTest::runUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      ADD_FAILURE() << "gave up waiting after 10 s";
      return false;
    }
    if (io.stopped()) io.restart();
    io.run_one_for(std::chrono::milliseconds(20));
  }
  return true;
}

tcp::acceptor ProxyTest::listenLoopback() {
  return tcp::acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
}

bool ProxyTest::hasPendingConnection(tcp::acceptor& acceptor) {
  acceptor.non_blocking(true);
  boost::system::error_code ec;
  tcp::socket s = acceptor.accept(ec);
  return !ec;
}

std::pair<tcp::socket, tcp::socket> ProxyTest::connectedPair() {
  tcp::acceptor acceptor = listenLoopback();
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  return {std::move(client), acceptor.accept()};
}

double ProxyTest::counter(const std::string& family,
                          const std::map<std::string, std::string>& match) const {
  double sum = 0;
  for (const auto& f : registry->Collect()) {
    if (f.name != family) continue;
    for (const auto& m : f.metric) {
      size_t matched = 0;
      for (const auto& l : m.label) {
        auto it = match.find(l.name);
        if (it != match.end() && it->second == l.value) ++matched;
      }
      if (matched == match.size()) sum += m.counter.value;
    }
  }
  return sum;
}

}  // namespace ambit::ztunnel::testing
