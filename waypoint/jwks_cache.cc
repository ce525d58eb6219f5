#include "waypoint/jwks_cache.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <charconv>

#include "common/async/spawn.h"
#include "common/log.h"

namespace ambit::waypoint {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct ParsedUri {
  bool tls = false;
  std::string host;  // without brackets
  std::string port;
  std::string target;  // path and query, "/" when none
};

Result<ParsedUri> parseUri(std::string_view uri) {
  ParsedUri out;
  std::string_view rest = uri;
  if (rest.starts_with("https://")) {
    out.tls = true;
    out.port = "443";
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    out.port = "80";
    rest.remove_prefix(7);
  } else {
    return makeError("unsupported scheme (expected http:// or https://)");
  }
  const size_t end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  target = target.substr(0, target.find('#'));
  out.target = target.empty() || target[0] != '/' ? "/" + std::string(target) : std::string(target);
  if (authority.find('@') != std::string_view::npos) return makeError("user info is not supported");
  std::string_view port;
  if (authority.starts_with("[")) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return makeError("unterminated IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after[0] != ':') return makeError("bad port");
    if (!after.empty()) port = after.substr(1);
  } else {
    const size_t colon = authority.rfind(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (out.host.empty()) return makeError("no host");
  if (!port.empty()) {
    unsigned n = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535)
      return makeError("bad port '{}'", port);
    out.port = std::string(port);
  }
  return out;
}

template <typename Stream>
asio::awaitable<Result<std::string>> getBody(Stream& stream, const ParsedUri& u, size_t max_bytes) {
  http::request<http::empty_body> req{http::verb::get, u.target, 11};
  req.set(http::field::host, u.host);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "ambit-waypoint");
  req.keep_alive(false);
  boost::system::error_code ec;
  co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return Error{ec.value(), "send request: " + ec.message()};
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_bytes);
  co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec == http::error::body_limit)
    co_return makeError("response larger than {} bytes", max_bytes);
  if (ec) co_return Error{ec.value(), "read response: " + ec.message()};
  auto& resp = parser.get();
  if (resp.result() != http::status::ok) co_return makeError("HTTP status {}", resp.result_int());
  co_return std::move(resp.body());
}

}  // namespace

asio::awaitable<Result<std::string>> fetchUri(asio::any_io_executor executor, std::string uri,
                                              const JwksFetchOptions& options) {
  auto u = parseUri(uri);
  if (!u) co_return u.error().context("bad URI");
  tcp::resolver resolver(executor);
  beast::tcp_stream tcp_stream(executor);
  // One deadline for the whole fetch (name resolution included): expiry cancels everything.
  asio::steady_timer deadline(executor, options.timeout);
  bool timed_out = false;
  // The handler may already be queued when the fetch finishes: `done` (which outlives this
  // frame) keeps it from touching the locals after we returned.
  auto done = std::make_shared<bool>(false);
  struct Done {
    std::shared_ptr<bool> flag;
    ~Done() { *flag = true; }
  } mark_done{done};
  deadline.async_wait([&, done](boost::system::error_code ec) {
    if (ec || *done) return;  // cancelled or finished: the locals may be gone; touch nothing
    timed_out = true;
    resolver.cancel();
    tcp_stream.cancel();
    tcp_stream.socket().close();
  });
  boost::system::error_code ec;
  auto endpoints = co_await resolver.async_resolve(u->host, u->port,
                                                   asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) {
    co_await tcp_stream.async_connect(endpoints, asio::redirect_error(asio::use_awaitable, ec));
  }
  Result<std::string> body = Error{};
  if (ec) {
    body = Error{ec.value(), "connect: " + ec.message()};
  } else if (!u->tls) {
    body = co_await getBody(tcp_stream, *u, options.max_bytes);
  } else {
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(asio::ssl::verify_peer);
    beast::ssl_stream<beast::tcp_stream&> tls(tcp_stream, ctx);
    SSL_set_tlsext_host_name(tls.native_handle(), u->host.c_str());
    tls.set_verify_callback(asio::ssl::host_name_verification(u->host));
    co_await tls.async_handshake(asio::ssl::stream_base::client,
                                 asio::redirect_error(asio::use_awaitable, ec));
    body = ec ? Result<std::string>(Error{ec.value(), "TLS handshake: " + ec.message()})
              : co_await getBody(tls, *u, options.max_bytes);
  }
  deadline.cancel();
  if (timed_out) co_return makeError("timed out after {} ms", options.timeout.count());
  co_return body;
}

struct JwksCache::Entry {
  Entry(asio::any_io_executor ex, std::string u, std::string o)
      : uri(std::move(u)), owner(std::move(o)), wake(ex), first_attempt(ex) {}
  std::string uri;
  std::string owner;
  std::shared_ptr<const jwt::Jwks> keys;
  std::string last_error;
  bool attempted = false;
  bool stopped = false;
  asio::steady_timer wake;           // next refresh or retry
  asio::steady_timer first_attempt;  // get() waits on it until the first fetch ends

  void stop() {
    stopped = true;
    wake.cancel();
    first_attempt.cancel();
  }
};

namespace {

asio::awaitable<void> refreshLoop(std::shared_ptr<JwksCache::Entry> e,
                                  asio::any_io_executor executor, JwksFetchOptions options) {
  auto backoff = options.initial_backoff;
  while (!e->stopped) {
    auto body = co_await fetchUri(executor, e->uri, options);
    Result<jwt::Jwks> parsed = body ? jwt::Jwks::parse(*body) : Result<jwt::Jwks>(body.error());
    if (e->stopped) break;
    std::chrono::milliseconds next = options.refresh_interval;
    if (parsed) {
      if (!e->keys || !e->last_error.empty()) {
        logInfo("jwks: {}: fetched {} ({} keys)", e->owner, e->uri, parsed->keys().size());
      }
      e->keys = std::make_shared<const jwt::Jwks>(std::move(*parsed));
      e->last_error.clear();
      backoff = options.initial_backoff;
    } else {
      e->last_error = parsed.error().message;
      next = std::min(backoff, options.refresh_interval);
      logWarn("jwks: {}: fetching jwksUri {} failed: {}; {}; retry in {} ms", e->owner, e->uri,
              e->last_error,
              e->keys ? "keeping the last good keys"
                      : "no keys yet, tokens of this issuer are rejected (401)",
              next.count());
      backoff = std::min(backoff * 2, options.max_backoff);
    }
    e->attempted = true;
    e->first_attempt.cancel();
    e->wake.expires_after(next);
    boost::system::error_code ec;
    co_await e->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace

JwksCache::JwksCache(asio::any_io_executor executor, JwksFetchOptions options)
    : executor_(std::move(executor)), options_(options) {}

JwksCache::~JwksCache() {
  for (auto& [uri, e] : entries_) e->stop();
}

asio::awaitable<std::shared_ptr<const jwt::Jwks>> JwksCache::get(const std::string& uri,
                                                                 const std::string& owner) {
  std::shared_ptr<Entry>& slot = entries_[uri];
  if (!slot) {
    slot = std::make_shared<Entry>(executor_, uri, owner);
    slot->first_attempt.expires_after(options_.timeout + std::chrono::seconds(1));
    spawn(executor_, refreshLoop(slot, executor_, options_), "JWKS refresh");
  }
  std::shared_ptr<Entry> e = slot;
  if (!e->attempted && !e->stopped) {
    boost::system::error_code ec;
    co_await e->first_attempt.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return e->keys;
}

std::string JwksCache::lastError(const std::string& uri) const {
  auto it = entries_.find(uri);
  return it == entries_.end() ? std::string() : it->second->last_error;
}

void JwksCache::retainOnly(const std::set<std::string>& uris) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (uris.contains(it->first)) {
      ++it;
    } else {
      it->second->stop();
      it = entries_.erase(it);
    }
  }
}

}  // namespace ambit::waypoint
