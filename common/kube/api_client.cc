#include "common/kube/api_client.h"

#include <openssl/ssl.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

namespace ambit::kube {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kReadChunk = 64u << 10;

Result<asio::ssl::context> makeTlsContext(Credentials& creds) {
  asio::ssl::context ctx(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx.set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1, ec);
  auto ca = creds.caPem();
  if (!ca) return ca.error().context("CA bundle");
  if (ca->empty()) {
    ctx.set_default_verify_paths(ec);
  } else {
    ctx.add_certificate_authority(asio::buffer(*ca), ec);
  }
  if (ec) return makeError("CA bundle: {}", ec.message());
  ctx.set_verify_mode(asio::ssl::verify_peer);
  const auto& c = creds.config();
  if (!c.client_cert_pem.empty()) {
    ctx.use_certificate_chain(asio::buffer(c.client_cert_pem), ec);
    if (ec) return makeError("client certificate: {}", ec.message());
    ctx.use_private_key(asio::buffer(c.client_key_pem), asio::ssl::context::pem, ec);
    if (ec) return makeError("client key: {}", ec.message());
  }
  return ctx;
}

}  // namespace

struct ApiClient::Connection {
  Connection(const asio::any_io_executor& ex, asio::ssl::context c)
      : ctx(std::move(c)), stream(ex, ctx) {}
  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream); }

  asio::ssl::context ctx;
  beast::ssl_stream<beast::tcp_stream> stream;
  beast::flat_buffer buffer;
};

ApiClient::ApiClient(asio::any_io_executor executor, std::shared_ptr<Credentials> credentials,
                     ApiClientOptions options)
    : executor_(std::move(executor)), credentials_(std::move(credentials)), options_(options) {}

asio::awaitable<Result<std::unique_ptr<ApiClient::Connection>>> ApiClient::connect(
    const std::string& what) {
  auto ctx = makeTlsContext(*credentials_);
  if (!ctx) co_return ctx.error().context(what);
  auto conn = std::make_unique<Connection>(executor_, std::move(*ctx));
  const auto& cfg = credentials_->config();
  boost::system::error_code ec;
  tcp::resolver resolver(executor_);
  auto endpoints = co_await resolver.async_resolve(cfg.host, cfg.port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return makeError("{}: resolve {}: {}", what, cfg.host, ec.message());
  conn->lowest().expires_after(options_.request_timeout);
  co_await conn->lowest().async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return makeError("{}: connect {}:{}: {}", what, cfg.host, cfg.port, ec.message());
  // Names get SNI; every host (name or IP) is checked against the certificate's SANs.
  boost::system::error_code ip_ec;
  asio::ip::make_address(cfg.host, ip_ec);
  if (ip_ec) SSL_set_tlsext_host_name(conn->stream.native_handle(), cfg.host.c_str());
  conn->stream.set_verify_callback(asio::ssl::host_name_verification(cfg.host));
  co_await conn->stream.async_handshake(asio::ssl::stream_base::client,
                                        asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return makeError("{}: TLS handshake with {}:{}: {}", what, cfg.host, cfg.port, ec.message());
  co_return conn;
}

namespace {

template <typename Body>
Status prepare(http::request<Body>& req, Credentials& creds, const RestConfig& cfg,
               const ApiClientOptions& options) {
  req.set(http::field::host,
          cfg.host.find(':') != std::string::npos ? "[" + cfg.host + "]" : cfg.host);
  req.set(http::field::user_agent, options.user_agent);
  req.set(http::field::accept, "application/json");
  auto token = creds.token();
  if (!token) return token.error().context("token");
  if (!token->empty()) req.set(http::field::authorization, "Bearer " + *token);
  return Status::ok();
}

}  // namespace

asio::awaitable<Result<ApiResponse>> ApiClient::request(http::verb method, std::string target,
                                                        std::string body,
                                                        std::string content_type) {
  const std::string what = fmt::format("{} {}", std::string(http::to_string(method)), target);
  for (int attempt = 0;; ++attempt) {
    auto conn = co_await connect(what);
    if (!conn) co_return conn.error();
    http::request<http::string_body> req{method, target, 11};
    if (auto st = prepare(req, *credentials_, config(), options_); !st)
      co_return st.error().context(what);
    if (!body.empty() || method == http::verb::post || method == http::verb::put ||
        method == http::verb::patch) {
      req.set(http::field::content_type, content_type);
      req.body() = body;
    }
    req.keep_alive(false);
    req.prepare_payload();
    boost::system::error_code ec;
    (*conn)->lowest().expires_after(options_.request_timeout);
    co_await http::async_write((*conn)->stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return makeError("{}: send: {}", what, ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    co_await http::async_read((*conn)->stream, (*conn)->buffer, parser,
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit)
      co_return makeError("{}: response larger than {} bytes", what, options_.max_response_bytes);
    if (ec) co_return makeError("{}: read response: {}", what, ec.message());
    ApiResponse out{parser.get().result_int(), std::move(parser.get().body())};
    if (out.status == 401 && attempt == 0) {
      credentials_->invalidate();  // a rotated token: read the files again, once
      continue;
    }
    co_return out;
  }
}

namespace {

class BeastWatchStream final : public WatchStream {
 public:
  using Conn = std::unique_ptr<ApiClient::Connection>;
  BeastWatchStream(Conn conn, std::unique_ptr<http::response_parser<http::buffer_body>> parser,
                   std::string pending, size_t max_line)
      : conn_(std::move(conn)),
        parser_(std::move(parser)),
        pending_(std::move(pending)),
        max_line_(max_line) {}

  asio::awaitable<Result<std::optional<std::string>>> nextLine(
      std::chrono::milliseconds idle) override {
    for (;;) {
      size_t nl = pending_.find('\n', scanned_);
      if (nl != std::string::npos) {
        std::string line = pending_.substr(0, nl);
        pending_.erase(0, nl + 1);
        scanned_ = 0;
        if (line.empty()) continue;
        co_return std::optional<std::string>(std::move(line));
      }
      scanned_ = pending_.size();
      if (pending_.size() > max_line_)
        co_return makeError("watch event larger than {} bytes", max_line_);
      if (closed_) co_return makeError("watch closed");
      if (parser_->is_done()) {
        if (pending_.empty()) co_return std::optional<std::string>();
        std::string last = std::move(pending_);
        pending_.clear();
        scanned_ = 0;
        co_return std::optional<std::string>(std::move(last));
      }
      auto st = co_await readMore(idle);
      if (!st) co_return st.error();
    }
  }

  void close() override {
    closed_ = true;
    boost::system::error_code ignored;
    conn_->lowest().cancel();
    conn_->lowest().socket().close(ignored);
  }

  // Reads whatever arrives next into pending_.
  asio::awaitable<Status> readMore(std::chrono::milliseconds idle) {
    char buf[kReadChunk];
    parser_->get().body().data = buf;
    parser_->get().body().size = sizeof buf;
    boost::system::error_code ec;
    conn_->lowest().expires_after(idle);
    co_await http::async_read_some(conn_->stream, conn_->buffer, *parser_,
                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) ec = {};
    pending_.append(buf, sizeof buf - parser_->get().body().size);
    if (ec == beast::error::timeout)
      co_return makeError("no watch event within {} ms", idle.count());
    if (ec) co_return makeError("read watch: {}", ec.message());
    co_return Status::ok();
  }

 private:
  Conn conn_;
  std::unique_ptr<http::response_parser<http::buffer_body>> parser_;
  std::string pending_;
  size_t scanned_ = 0;
  size_t max_line_;
  bool closed_ = false;
};

}  // namespace

asio::awaitable<Result<WatchStart>> ApiClient::watch(std::string target) {
  const std::string what = "WATCH " + target;
  for (int attempt = 0;; ++attempt) {
    auto conn = co_await connect(what);
    if (!conn) co_return conn.error();
    http::request<http::empty_body> req{http::verb::get, target, 11};
    if (auto st = prepare(req, *credentials_, config(), options_); !st)
      co_return st.error().context(what);
    boost::system::error_code ec;
    (*conn)->lowest().expires_after(options_.request_timeout);
    co_await http::async_write((*conn)->stream, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return makeError("{}: send: {}", what, ec.message());
    auto parser = std::make_unique<http::response_parser<http::buffer_body>>();
    parser->body_limit(boost::none);  // a watch streams for minutes; lines are bounded instead
    co_await http::async_read_header((*conn)->stream, (*conn)->buffer, *parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return makeError("{}: read response header: {}", what, ec.message());
    const unsigned status = parser->get().result_int();
    auto stream = std::make_unique<BeastWatchStream>(std::move(*conn), std::move(parser),
                                                     std::string(), options_.max_event_bytes);
    if (status == 200) co_return WatchStart{200, {}, std::move(stream)};
    // An error answer: a (small) Status object. Read it whole, bounded.
    std::string error_body;
    for (int i = 0; i < 64; ++i) {
      auto line = co_await stream->nextLine(options_.request_timeout);
      if (!line || !*line) break;
      error_body += **line;
      if (error_body.size() > 64u << 10) break;
    }
    if (status == 401 && attempt == 0) {
      credentials_->invalidate();
      continue;
    }
    co_return WatchStart{status, std::move(error_body), nullptr};
  }
}

}  // namespace ambit::kube
