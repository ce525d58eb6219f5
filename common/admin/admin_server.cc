#include "common/admin/admin_server.h"

#include <sys/socket.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <set>
#include <utility>

#include "common/async/accept_loop.h"
#include "common/async/spawn.h"
#include "common/listeners.h"
#include "common/log.h"
#include "common/netns.h"
#include "common/unique_fd.h"

namespace ambit::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kReadTimeout = std::chrono::seconds(10);
constexpr std::size_t kMaxBodyBytes = 1 << 20;
}  // namespace

struct AdminServer::Impl : std::enable_shared_from_this<AdminServer::Impl> {
  explicit Impl(asio::io_context& io) : io(io), acceptor(io) {}

  asio::io_context& io;
  tcp::acceptor acceptor;
  std::map<std::string, Handler> routes;
  bool stopped = false;
  // listenYieldingToSuccessor(): the listener's inode, its predecessors' and the poll timer.
  uint64_t inode = 0;
  std::set<uint64_t> predecessors;
  std::unique_ptr<asio::steady_timer> succession;
  bool yielded = false;
  bool listing_failed = false;  // the last successor check could not list the listeners

  void accept();
  void watchForSuccessor(tcp::endpoint ep, std::chrono::milliseconds poll);
  Response dispatch(const Request& req) const;
};

namespace {

// One keep-alive admin connection; owns its socket and buffers.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, std::shared_ptr<const AdminServer::Impl> server)
      : stream_(std::move(socket)), server_(std::move(server)) {}

  void start() { read(); }

 private:
  void read() {
    request_ = {};
    parser_.emplace();
    parser_->body_limit(kMaxBodyBytes);
    parser_->header_limit(16 * 1024);
    stream_.expires_after(kReadTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->onRead(ec); });
  }

  void onRead(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout) return close();
    if (ec) return respond(400, "bad request: " + ec.message() + "\n", false);
    auto& msg = parser_->get();
    std::string_view target(msg.target().data(), msg.target().size());
    Request req;
    req.method = std::string(msg.method_string());
    auto q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = std::string(target.substr(q + 1));
    req.body = std::move(msg.body());
    Response r = server_->dispatch(req);
    write(std::move(r), msg.keep_alive());
  }

  void respond(unsigned status, std::string body, bool keep_alive) {
    write(Response{status, "text/plain; charset=utf-8", std::move(body)}, keep_alive);
  }

  void write(Response r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "ambit");
    res->set(http::field::content_type, r.content_type);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res, keep_alive](beast::error_code ec, std::size_t) {
          if (ec || !keep_alive) return self->close();
          self->read();
        });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  std::shared_ptr<const AdminServer::Impl> server_;
};

}  // namespace

void AdminServer::Impl::accept() {
  spawn(
      io,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        beast::error_code ec;
        auto local = self->acceptor.local_endpoint(ec);
        AcceptBackoff backoff(
            fmt::format("admin listener {}:{}", local.address().to_string(), local.port()));
        const AcceptHandler on_accept = [self](tcp::socket socket) {
          if (self->stopped) return;
          std::make_shared<Session>(std::move(socket), self)->start();
        };
        co_await acceptUntilClosed(self->acceptor, backoff, on_accept);
      },
      "admin accept loop");
}

Response AdminServer::Impl::dispatch(const Request& req) const {
  auto it = routes.find(req.path);
  if (it == routes.end()) {
    std::string body = "no such admin path: " + req.path + "\navailable:\n";
    for (const auto& [path, _] : routes) body += "  " + path + "\n";
    return Response{404, "text/plain; charset=utf-8", body};
  }
  return it->second(req);
}

AdminServer::AdminServer(asio::io_context& io) : impl_(std::make_shared<Impl>(io)) {}

AdminServer::~AdminServer() { stop(); }

void AdminServer::route(const std::string& path, Handler handler) {
  impl_->routes[path] = std::move(handler);
}

namespace {

// Binds `impl`'s acceptor (in netns_fd if >= 0) and starts accepting.
Status open(AdminServer::Impl& impl, const std::string& address, uint16_t port, int netns_fd,
            bool reuse_port) {
  beast::error_code ec;
  auto addr = asio::ip::make_address(address, ec);
  if (ec) return makeError("admin listen: bad address '{}': {}", address, ec.message());
  tcp::endpoint ep(addr, port);
  auto make = [&]() -> Status {
    UniqueFd fd(::socket(addr.is_v6() ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return errnoError("admin socket");
    int one = 1;
    if (reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
      return errnoError("admin socket SO_REUSEPORT");
    }
    impl.acceptor.assign(ep.protocol(), fd.release(), ec);
    if (ec) return makeError("admin assign socket: {}", ec.message());
    return Status::ok();
  };
  Status opened = netns_fd >= 0 ? inNetns(netns_fd, make) : make();
  if (!opened) return opened;
  impl.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  impl.acceptor.bind(ep, ec);
  if (ec) return makeError("admin bind {}:{}: {}", address, port, ec.message());
  impl.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return makeError("admin listen {}:{}: {}", address, port, ec.message());
  impl.accept();
  return Status::ok();
}

}  // namespace

Status AdminServer::listen(const std::string& address, uint16_t port, int netns_fd) {
  return open(*impl_, address, port, netns_fd, false);
}

Status AdminServer::listenYieldingToSuccessor(const std::string& address, uint16_t port,
                                              std::chrono::milliseconds poll) {
  AMBIT_TRY(open(*impl_, address, port, -1, true));
  beast::error_code ec;
  tcp::endpoint ep = impl_->acceptor.local_endpoint(ec);
  if (ec) return makeError("admin listener {}:{}: {}", address, port, ec.message());
  auto inode = socketInode(impl_->acceptor.native_handle());
  if (!inode) return inode.error().context("admin listener");
  auto present = tcpListeners(ep);
  if (!present) return present.error().context("admin listener");
  impl_->inode = *inode;
  for (uint64_t other : *present) {
    if (other != *inode) impl_->predecessors.insert(other);
  }
  if (!impl_->predecessors.empty()) {
    logInfo("{}:{}: a previous process listens there too; it is expected to yield", address, port);
  }
  impl_->watchForSuccessor(ep, poll);
  return Status::ok();
}

bool AdminServer::yielded() const { return impl_->yielded; }

void AdminServer::Impl::watchForSuccessor(tcp::endpoint ep, std::chrono::milliseconds poll) {
  if (!succession) succession = std::make_unique<asio::steady_timer>(io);
  succession->expires_after(poll);
  succession->async_wait([weak = weak_from_this(), ep, poll](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->stopped) return;
    auto now = tcpListeners(ep);
    if (!now) {
      // Once per run of failures: the check repeats every `poll`.
      if (!std::exchange(self->listing_failed, true)) {
        logWarn("admin listener {}:{}: {} (retrying every {} ms)", ep.address().to_string(),
                ep.port(), now.error().message, poll.count());
      }
      return self->watchForSuccessor(ep, poll);
    }
    if (std::exchange(self->listing_failed, false)) {
      logInfo("admin listener {}:{}: listing the listeners works again", ep.address().to_string(),
              ep.port());
    }
    std::set<uint64_t> still;
    bool successor = false;
    for (uint64_t other : *now) {
      if (other == self->inode) continue;
      if (self->predecessors.contains(other)) {
        still.insert(other);
      } else {
        successor = true;
      }
    }
    self->predecessors = std::move(still);  // an inode that went away is never reused for one
    if (!successor) return self->watchForSuccessor(ep, poll);
    logInfo("{}:{}: a newer process listens there: this one stops listening (hand-over)",
            ep.address().to_string(), ep.port());
    self->yielded = true;
    self->stopped = true;
    beast::error_code ignored;
    self->acceptor.close(ignored);
  });
}

uint16_t AdminServer::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void AdminServer::stop() {
  impl_->stopped = true;
  beast::error_code ignored;
  impl_->acceptor.close(ignored);
}

Handler readinessHandler(std::function<bool()> ready) {
  return [ready = std::move(ready)](const Request&) {
    if (ready()) return Response{200, "text/plain; charset=utf-8", "ready\n"};
    return Response{503, "text/plain; charset=utf-8", "not ready\n"};
  };
}

Handler jsonHandler(std::function<std::string()> produce_json) {
  return [produce = std::move(produce_json)](const Request&) {
    return Response{200, kJsonContentType, produce()};
  };
}

}  // namespace ambit::admin
