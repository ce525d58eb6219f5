#include "tests/unit/kube/api_server_script.h"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <stdexcept>

#include "common/async/spawn.h"
#include "tests/support/test_pki.h"

namespace ambit::kube::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ScriptedApiServer::Conn {
  explicit Conn(tcp::socket s, asio::ssl::context& ctx) : tls(std::move(s), ctx) {}
  asio::ssl::stream<tcp::socket> tls;
};

ScriptedApiServer::ScriptedApiServer(asio::io_context& io, Handler handler)
    : io_(io), handler_(std::move(handler)), tls_(asio::ssl::context::tls_server), acceptor_(io) {
  const test::TestPki pki("scripted-ca");
  const test::CertKey server = pki.issueForIp("127.0.0.1");
  ca_pem_ = pki.caPem();
  tls_.use_certificate_chain(asio::buffer(server.cert_pem));
  tls_.use_private_key(asio::buffer(server.key_pem), asio::ssl::context::pem);
  tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), 0);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen();
  accept();
}

ScriptedApiServer::~ScriptedApiServer() { stop(); }

RestConfig ScriptedApiServer::restConfig() const {
  RestConfig c;
  c.host = "127.0.0.1";
  c.port = std::to_string(acceptor_.local_endpoint().port());
  c.ca_pem = ca_pem_;
  c.source = "scripted";
  return c;
}

void ScriptedApiServer::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& c : held_) c->tls.next_layer().close(ignored);
  held_.clear();
}

void ScriptedApiServer::accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket s) {
    if (ec) return;
    auto conn = std::make_shared<Conn>(std::move(s), tls_);
    spawn(
        io_,
        [this, conn]() -> asio::awaitable<void> {
          boost::system::error_code ec;
          co_await conn->tls.async_handshake(asio::ssl::stream_base::server,
                                             asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
          beast::flat_buffer buf;
          http::request<http::string_body> req;
          co_await http::async_read(conn->tls, buf, req,
                                    asio::redirect_error(asio::use_awaitable, ec));
          if (ec) co_return;
          Request r{std::string(req.method_string()), std::string(req.target()),
                    std::string(req[http::field::authorization]), req.body()};
          requests_.push_back(r);
          Reply reply = handler_(r);
          if (reply.lines.empty() && !reply.hold_open) {
            http::response<http::string_body> resp{static_cast<http::status>(reply.status), 11};
            resp.set(http::field::content_type, "application/json");
            resp.body() = reply.body;
            resp.keep_alive(false);
            resp.prepare_payload();
            co_await http::async_write(conn->tls, resp,
                                       asio::redirect_error(asio::use_awaitable, ec));
          } else {
            std::string out =
                "HTTP/1.1 " + std::to_string(reply.status) +
                " X\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            for (const auto& line : reply.lines) {
              std::ostringstream chunk;
              chunk << std::hex << (line.size() + 1) << "\r\n" << line << "\n\r\n";
              out += chunk.str();
            }
            if (!reply.hold_open) out += "0\r\n\r\n";
            co_await asio::async_write(conn->tls, asio::buffer(out),
                                       asio::redirect_error(asio::use_awaitable, ec));
            if (reply.hold_open) {
              held_.push_back(conn);
              co_return;
            }
          }
          co_await conn->tls.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
        },
        "scripted API server connection");
    accept();
  });
}

}  // namespace ambit::kube::testing
