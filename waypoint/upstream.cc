#include "waypoint/upstream.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <optional>

#include "common/hbone/protocol.h"

namespace ambit::waypoint {

struct UpstreamPool::Tunnel {
  explicit Tunnel(hbone::HboneStream s, HttpLimits limits)
      : stream(std::move(s)), reader(stream, limits) {}
  hbone::HboneStream stream;
  MessageReader reader;
  bool timed_out = false;
};

asio::awaitable<Result<hbone::HboneStream>> UpstreamPool::openStream(const UpstreamTarget& target) {
  UpstreamCredentials creds = credentials_();
  if (!creds.tls) co_return Error{EAGAIN, "waypoint certificate not issued yet"};
  hbone::Destination dest;
  dest.source_identity = creds.identity;
  dest.tls = creds.tls;
  dest.address = target.hbone;
  dest.expected_server_ids = {target.identity};
  hbone::TunnelRequest req;
  req.authority = hbone::formatAuthority(target.authority);
  auto stream = co_await pool_.connect(dest, req);
  if (!stream) co_return Error{ECONNREFUSED, stream.error().message};
  co_return std::move(*stream);
}

asio::awaitable<Result<std::shared_ptr<UpstreamPool::Tunnel>>> UpstreamPool::open(
    const UpstreamTarget& target) {
  auto stream = co_await openStream(target);
  if (!stream) co_return stream.error();
  co_return std::make_shared<Tunnel>(std::move(*stream), limits_);
}

// The endpoint's connection, or a new one. Requests arriving while it is being opened wait
// for it instead of opening their own.
asio::awaitable<Result<std::shared_ptr<H2cConnection>>> UpstreamPool::http2Connection(
    const Key& key, const UpstreamTarget& target, bool& reused) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    H2Slot& slot = h2_[key];
    if (slot.connection && slot.connection->acceptsStreams()) {
      reused = true;
      co_return slot.connection;
    }
    if (!slot.opening) break;
    auto opened = slot.opened;
    co_await opened->wait();
  }
  reused = false;
  auto opened = std::make_shared<Signal>(ex);
  h2_[key].opening = true;
  h2_[key].opened = opened;
  auto stream = co_await openStream(target);
  H2Slot& slot = h2_[key];  // the map may have changed while we waited
  slot.opening = false;
  opened->notify();  // waiters resume after this coroutine suspends: the slot is final by then
  if (!stream) co_return stream.error();
  H2cOptions options;
  options.limits = limits_;
  slot.connection = std::make_shared<H2cConnection>(std::move(*stream), http2::Role::kClient,
                                                    options, H2cConnection::RequestHandler{}, ex);
  if (Status st = slot.connection->startDetached(); !st) co_return st.error();
  co_return slot.connection;
}

asio::awaitable<Result<UpstreamResult>> UpstreamPool::exchangeHttp2(
    const Key& key, const UpstreamTarget& target, const HttpRequest& request,
    std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    auto connection = co_await http2Connection(key, target, reused);
    if (!connection) co_return connection.error();
    auto stream = (*connection)->submit(request);
    if (!stream) {
      if (reused && attempt == 0) continue;
      co_return stream.error();
    }
    auto st = *stream;
    auto timed_out = std::make_shared<bool>(false);
    std::optional<asio::steady_timer> timer;
    if (timeout.count() > 0) {
      timer.emplace(co_await asio::this_coro::executor, deadline);
      timer->async_wait([timed_out, st, c = *connection](boost::system::error_code ec) {
        if (ec) return;
        *timed_out = true;
        c->reset(*st, NGHTTP2_CANCEL);
        st->done->notify();
      });
    }
    while (!st->complete && !st->closed && !*timed_out) co_await st->done->wait();
    if (timer) timer->cancel();
    if (*timed_out) co_return Error{ETIMEDOUT, "upstream request timeout"};
    if (st->complete && st->status >= 200 && !st->header_overflow && !st->body_overflow) {
      co_return UpstreamResult{toHttpResponse(*st), st->wire_bytes};
    }
    // The connection went away before this stream was answered: once more on a fresh one, when
    // the server said it did not process it (REFUSED_STREAM, also what nghttp2 reports for
    // streams past a GOAWAY) or the method is safe to repeat.
    const bool safe = request.method() == http::verb::get || request.method() == http::verb::head ||
                      request.method() == http::verb::options;
    if (reused && attempt == 0 && st->status == 0 &&
        (st->close_code == NGHTTP2_REFUSED_STREAM || safe)) {
      continue;
    }
    if (st->header_overflow || st->body_overflow) {
      co_return Error{EMSGSIZE, "upstream HTTP/2 response over the size limit"};
    }
    co_return Error{ECONNRESET,
                    fmt::format("upstream reset HTTP/2 stream (error code {})", st->close_code)};
  }
}

asio::awaitable<Result<UpstreamResult>> UpstreamPool::tryOnce(const std::shared_ptr<Tunnel>& tunnel,
                                                              const HttpRequest& request,
                                                              std::chrono::milliseconds timeout,
                                                              bool& reusable) {
  reusable = false;
  std::optional<asio::steady_timer> timer;
  if (timeout.count() > 0) {
    timer.emplace(co_await asio::this_coro::executor, timeout);
    timer->async_wait([weak = std::weak_ptr<Tunnel>(tunnel)](boost::system::error_code ec) {
      if (auto t = weak.lock(); t && !ec) {
        t->timed_out = true;
        t->stream.reset();
      }
    });
  }
  auto written = co_await writeMessage(tunnel->stream, request);
  UpstreamResult result;
  Status status = written.status();
  if (written) {
    const uint64_t before = tunnel->reader.bytesRead();
    bool ends_stream = false;
    auto response =
        co_await tunnel->reader.readResponse(request.method() == http::verb::head, ends_stream);
    status = response.status();
    if (response) {
      result.response = std::move(*response);
      result.bytes_received = tunnel->reader.bytesRead() - before;
      reusable = !ends_stream && result.response.keep_alive();
    }
  }
  if (timer) timer->cancel();
  if (tunnel->timed_out) co_return Error{ETIMEDOUT, "upstream request timeout"};
  if (!status) co_return status.error();
  co_return result;
}

asio::awaitable<Result<UpstreamResult>> UpstreamPool::exchange(const UpstreamTarget& target,
                                                               const HttpRequest& request,
                                                               std::chrono::milliseconds timeout) {
  const Key key{target.authority, target.identity};
  const asio::ip::address ip = target.authority.address();
  ++active_[ip];
  struct InFlight {
    std::map<asio::ip::address, size_t>& active;
    const asio::ip::address& ip;
    ~InFlight() { --active[ip]; }
  } in_flight{active_, ip};
  if (target.http2) co_return co_await exchangeHttp2(key, target, request, timeout);
  auto& idle = idle_[key];
  std::shared_ptr<Tunnel> tunnel;
  bool reused = !idle.empty();
  if (reused) {
    tunnel = std::move(idle.back());
    idle.pop_back();
  } else {
    auto fresh = co_await open(target);
    if (!fresh) co_return fresh.error();
    tunnel = std::move(*fresh);
  }
  bool reusable = false;
  auto result = co_await tryOnce(tunnel, request, timeout, reusable);
  if (!result && reused && result.error().code != ETIMEDOUT) {
    // The endpoint closed the idle connection while it waited: once more on a fresh tunnel.
    auto fresh = co_await open(target);
    if (!fresh) co_return fresh.error();
    tunnel = std::move(*fresh);
    result = co_await tryOnce(tunnel, request, timeout, reusable);
  }
  auto& still_idle = idle_[key];  // the map may have changed while we waited
  if (result && reusable && still_idle.size() < max_idle_) still_idle.push_back(std::move(tunnel));
  co_return result;
}

size_t UpstreamPool::activeRequests(const asio::ip::address& ip) const {
  auto it = active_.find(ip);
  return it == active_.end() ? 0 : it->second;
}

size_t UpstreamPool::idleCount() const {
  size_t n = 0;
  for (const auto& [key, list] : idle_) n += list.size();
  return n;
}

}  // namespace ambit::waypoint
