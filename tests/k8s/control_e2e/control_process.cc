#include "tests/k8s/control_e2e/control_process.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>
#include <deque>
#include <fstream>

#include "common/identity/pem.h"
#include "common/unique_fd.h"
#include "tests/support/wait.h"

namespace ambit::test {
namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

UniqueFd connectTo(uint16_t port, std::chrono::milliseconds timeout) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr = loopback(port);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return {};
  return fd;
}

}  // namespace

uint16_t freeLoopbackPort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = loopback(0);
  if (!fd || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return 0;
  socklen_t len = sizeof(addr);
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  return ntohs(addr.sin_port);
}

bool tcpPortOpen(uint16_t port) {
  return static_cast<bool>(connectTo(port, std::chrono::seconds(2)));
}

HttpAnswer httpGet(uint16_t port, const std::string& path, std::chrono::milliseconds timeout) {
  UniqueFd fd = connectTo(port, timeout);
  if (!fd) return {};
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return {};
  }
  std::string raw;
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(fd.get(), buf, sizeof(buf), 0);
    if (n <= 0) break;
    raw.append(buf, static_cast<size_t>(n));
  }
  HttpAnswer answer;
  // "HTTP/1.1 200 OK\r\n..."
  if (raw.size() < 12 || !raw.starts_with("HTTP/1.")) return {};
  answer.status = std::atoi(raw.substr(9, 3).c_str());
  auto body = raw.find("\r\n\r\n");
  if (body != std::string::npos) answer.body = raw.substr(body + 4);
  return answer;
}

Status ControlProcess::start(const std::string& kubeconfig, const std::string& log_file,
                             const std::string& instance) {
  port_ = freeLoopbackPort();
  monitoring_port_ = freeLoopbackPort();
  if (port_ == 0 || monitoring_port_ == 0) return makeError("no free loopback port");
  log_file_ = log_file;
  Command c;
  // setpriv execs ambit-control in place (same PID) with SIGKILL as its parent-death signal:
  // a test process killed by a timeout leaves no replica behind.
  c.argv = {"setpriv",
            "--pdeathsig",
            "KILL",
            binary("ambit-control"),
            "--kubeconfig",
            kubeconfig,
            "--namespace",
            "ambit-system",
            "--instance",
            instance,
            "--listen",
            address(),
            "--monitoring-address",
            "127.0.0.1",
            "--monitoring-port",
            std::to_string(monitoring_port_),
            "--server-names",
            std::string(kServerName) + ",localhost",
            "--log-level",
            "debug"};
  c.log_file = log_file;
  c.own_process_group = true;
  return process_.start(c);
}

bool ControlProcess::waitReady(std::chrono::milliseconds timeout) {
  return eventually([&] { return !process_.running() || get("/ready").status == 200; }, timeout,
                    std::chrono::milliseconds(50)) &&
         process_.running();
}

int ControlProcess::terminate() {
  process_.signal(SIGTERM);
  auto status = process_.waitExit(std::chrono::seconds(15));
  process_.kill();
  return status.value_or(-1);
}

std::string ControlProcess::logTail(size_t lines) const {
  std::ifstream in(log_file_);
  std::deque<std::string> tail;
  for (std::string line; std::getline(in, line);) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out = "--- last lines of " + log_file_ + " ---\n";
  for (const auto& l : tail) out += l + "\n";
  return out;
}

Status verifyChain(const std::vector<std::string>& chain_pem, const std::string& root_pem) {
  if (chain_pem.empty()) return makeError("empty chain");
  auto root = identity::parseCertificatePem(root_pem);
  if (!root) return root.error().context("root");
  std::vector<ossl::X509Ptr> chain;
  for (const auto& pem : chain_pem) {
    auto cert = identity::parseCertificatePem(pem);
    if (!cert) return cert.error().context("chain");
    chain.push_back(std::move(*cert));
  }
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, root->get());
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  for (size_t i = 1; i < chain.size(); ++i) sk_X509_push(untrusted, chain[i].get());
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, chain[0].get(), untrusted);
  const bool ok = X509_verify_cert(ctx) == 1;
  const int err = X509_STORE_CTX_get_error(ctx);
  X509_STORE_CTX_free(ctx);
  sk_X509_free(untrusted);
  X509_STORE_free(store);
  if (!ok) return makeError("chain does not verify: {}", X509_verify_cert_error_string(err));
  return Status::ok();
}

}  // namespace ambit::test
