#include "common/http2/connection.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <vector>

#include "common/async/spawn.h"
#include "common/log.h"

namespace ambit::http2 {
namespace {

using boost::system::error_code;
// The read buffer: small while reads come back small (an idle connection: kShrinkAfter small
// reads in a row), up to kReadMax while they fill it.
// while they fill it.
constexpr size_t kReadMin = 4u << 10;
constexpr size_t kReadMax = 64u << 10;
constexpr int kShrinkAfter = 16;
// Bytes gathered from nghttp2 per transport write (one DATA frame may take it past this).
constexpr size_t kWriteBatch = 64u << 10;
// Batches a thread keeps for reuse, and the largest kept.
constexpr size_t kCachedBatches = 16;
constexpr size_t kCachedBatchMax = 512u << 10;
constexpr size_t kFrameHeader = 9;
// SETTINGS_MAX_FRAME_SIZE bounds (RFC 9113 §6.5.2).
constexpr uint32_t kMinMaxFrameSize = 1u << 14;
constexpr uint32_t kMaxMaxFrameSize = (1u << 24) - 1;

using CallbacksPtr =
    std::unique_ptr<nghttp2_session_callbacks, void (*)(nghttp2_session_callbacks*)>;
using OptionPtr = std::unique_ptr<nghttp2_option, void (*)(nghttp2_option*)>;

}  // namespace

struct Connection::Batch {
  std::unique_ptr<uint8_t[]> data;
  size_t size = 0;
  size_t capacity = 0;

  // Room for `n` more bytes at the end (counted in size).
  uint8_t* extend(size_t n) {
    if (size + n > capacity) {
      const size_t grown = std::max({size + n, capacity * 2, kWriteBatch});
      auto bigger = std::make_unique_for_overwrite<uint8_t[]>(grown);
      if (size > 0) std::memcpy(bigger.get(), data.get(), size);
      data = std::move(bigger);
      capacity = grown;
    }
    uint8_t* at = data.get() + size;
    size += n;
    return at;
  }

  static thread_local std::vector<std::unique_ptr<Batch>> cache;

  static std::unique_ptr<Batch> take() {
    if (cache.empty()) return std::make_unique<Batch>();
    auto b = std::move(cache.back());
    cache.pop_back();
    b->size = 0;
    return b;
  }
  static void giveBack(std::unique_ptr<Batch> b) {
    if (b && cache.size() < kCachedBatches && b->capacity <= kCachedBatchMax) {
      cache.push_back(std::move(b));
    }
  }
};

thread_local std::vector<std::unique_ptr<Connection::Batch>> Connection::Batch::cache;

size_t Connection::releaseCachedBatches() {
  size_t bytes = 0;
  for (const auto& b : Batch::cache) bytes += b->capacity;
  Batch::cache.clear();
  Batch::cache.shrink_to_fit();
  return bytes;
}

// nghttp2 callbacks; user_data is the Connection.
struct Connection::Callbacks {
  static Connection& self(void* user_data) { return *static_cast<Connection*>(user_data); }

  static int onBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Connection& c = self(user_data);
    if (c.role_ == Role::kServer && frame->hd.type == NGHTTP2_HEADERS &&
        frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      c.touch();
      c.onRequestBegin(frame->hd.stream_id);
    }
    return 0;
  }

  static int onHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                      void* user_data) {
    return self(user_data).onHeader(*frame, {reinterpret_cast<const char*>(name), namelen},
                                    {reinterpret_cast<const char*>(value), valuelen});
  }

  static int onFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    Connection& c = self(user_data);
    // Failing the callback stops nghttp2 at this frame; the GOAWAY is already queued.
    if (!c.withinFloodLimits(*frame)) return NGHTTP2_ERR_CALLBACK_FAILURE;
    onFrame(c, *frame, /*sent=*/false);
    return 0;
  }

  static int onFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user_data) {
    onFrame(self(user_data), *frame, /*sent=*/true);
    return 0;
  }

  static void onFrame(Connection& c, const nghttp2_frame& frame, bool sent) {
    if (c.options_.idle_policy == IdlePolicy::kNoFrames) c.touch();
    if (frame.hd.type == NGHTTP2_GOAWAY) (sent ? c.goaway_sent_ : c.goaway_received_) = true;
    if (sent) {
      c.onFrameSent(frame);
    } else {
      c.onFrameReceived(frame);
    }
  }

  static int onDataChunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                         size_t len, void* user_data) {
    self(user_data).onData(stream_id, data, len);
    return 0;
  }

  static int onStreamClose(nghttp2_session*, int32_t stream_id, uint32_t error_code,
                           void* user_data) {
    Connection& c = self(user_data);
    c.touch();
    c.onStreamClosed(stream_id, error_code);
    return 0;
  }

  // NGHTTP2_DATA_FLAG_NO_COPY: the frame goes straight into the batch, its payload copied
  // once, from the stream's DataSource.
  static int onSendData(nghttp2_session*, nghttp2_frame* frame, const uint8_t* framehd,
                        size_t length, nghttp2_data_source* source, void* user_data) {
    Connection& c = self(user_data);
    const size_t padlen = frame->data.padlen;
    uint8_t* at = c.batch_->extend(kFrameHeader + length + padlen);
    std::memcpy(at, framehd, kFrameHeader);
    at += kFrameHeader;
    if (padlen > 0) *at++ = static_cast<uint8_t>(padlen - 1);
    static_cast<DataSource*>(source->ptr)->copyData({at, length});
    if (padlen > 1) std::memset(at + length, 0, padlen - 1);
    // A full batch goes out before nghttp2 serializes more frames.
    return c.batch_->size >= kWriteBatch ? NGHTTP2_ERR_PAUSE : 0;
  }

  static ssize_t dataLength(nghttp2_session*, uint8_t, int32_t, int32_t session_window,
                            int32_t stream_window, uint32_t remote_max_frame, void* user_data) {
    const int64_t ours = self(user_data).options_.max_send_frame;
    return static_cast<ssize_t>(std::max<int64_t>(
        1, std::min<int64_t>({ours, session_window, stream_window, remote_max_frame})));
  }

  static int onError(nghttp2_session*, int code, const char* msg, size_t len, void* user_data) {
    logDebug("{}: HTTP/2 error {}: {}", self(user_data).logName(), code,
             std::string_view(msg, len));
    return 0;
  }

  static CallbacksPtr make() {
    nghttp2_session_callbacks* cbs = nullptr;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return {nullptr, nghttp2_session_callbacks_del};
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, onBeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(cbs, onHeader);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, onFrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, onDataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, onStreamClose);
    nghttp2_session_callbacks_set_on_frame_send_callback(cbs, onFrameSend);
    nghttp2_session_callbacks_set_error_callback2(cbs, onError);
    nghttp2_session_callbacks_set_send_data_callback(cbs, onSendData);
    nghttp2_session_callbacks_set_data_source_read_length_callback(cbs, dataLength);
    return {cbs, nghttp2_session_callbacks_del};
  }
};

Connection::Connection(std::unique_ptr<Transport> transport, asio::any_io_executor executor,
                       Role role, ConnectionOptions options)
    : transport_(std::move(transport)),
      executor_(std::move(executor)),
      role_(role),
      options_(std::move(options)),
      write_signal_(executor_),
      closed_signal_(executor_),
      idle_timer_(executor_),
      header_block_(role_ == Role::kServer ? NGHTTP2_CLIENT_MAGIC_LEN : 0),
      header_timer_(executor_),
      stall_timer_(executor_),
      control_tokens_(options_.control_frame_burst),
      control_refill_(std::chrono::steady_clock::now()) {
  touch();
}

Connection::~Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

Status Connection::start() {
  if (session_ != nullptr) return makeError("{}: HTTP/2 session already started", logName());
  CallbacksPtr cbs = Callbacks::make();
  nghttp2_option* raw_opt = nullptr;
  if (!cbs || nghttp2_option_new(&raw_opt) != 0) return makeError("nghttp2: out of memory");
  OptionPtr opt(raw_opt, nghttp2_option_del);
  nghttp2_option_set_no_auto_window_update(opt.get(), options_.manual_window_update ? 1 : 0);
  if (options_.max_send_header_block > 0) {
    nghttp2_option_set_max_send_header_block_length(opt.get(), options_.max_send_header_block);
  }
  int rv = role_ == Role::kServer
               ? nghttp2_session_server_new2(&session_, cbs.get(), this, opt.get())
               : nghttp2_session_client_new2(&session_, cbs.get(), this, opt.get());
  if (rv != 0) {
    session_ = nullptr;
    return makeError("nghttp2 session: {}", nghttp2_strerror(rv));
  }
  std::vector<nghttp2_settings_entry> settings = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, options_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, options_.stream_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, options_.max_header_list_size},
      {NGHTTP2_SETTINGS_MAX_FRAME_SIZE,
       std::clamp<uint32_t>(options_.max_frame_size, kMinMaxFrameSize, kMaxMaxFrameSize)},
  };
  if (role_ == Role::kClient) settings.push_back({NGHTTP2_SETTINGS_ENABLE_PUSH, 0});
  rv = nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  if (rv == 0) {
    rv = nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                               static_cast<int32_t>(options_.connection_window));
  }
  if (rv != 0) return makeError("nghttp2 SETTINGS: {}", nghttp2_strerror(rv));
  if (shutdown_requested_) shutdown();
  return Status::ok();
}

Status Connection::startDetached() {
  AMBIT_TRY(start());
  spawn(
      executor_, [self = shared_from_this()] { return self->run(); }, "HTTP/2 connection");
  return Status::ok();
}

asio::awaitable<void> Connection::run(std::string already_read) {
  auto self = shared_from_this();
  if (session_ == nullptr) {
    close("run() without a started session");
    co_return;
  }
  spawn(
      executor_, [self] { return self->writeLoop(); }, "HTTP/2 writer");
  spawn(
      executor_, [self] { return self->idleLoop(); }, "HTTP/2 idle timer");
  if (options_.header_timeout.count() > 0) {
    spawn(
        executor_, [self] { return self->headerTimeoutLoop(); }, "HTTP/2 header timer");
  }
  if (options_.send_stall_timeout.count() > 0) {
    spawn(
        executor_, [self] { return self->sendStallLoop(); }, "HTTP/2 send stall timer");
  }
  if (!already_read.empty()) {
    receive(reinterpret_cast<const uint8_t*>(already_read.data()), already_read.size());
  }
  auto buf = std::make_unique_for_overwrite<uint8_t[]>(kReadMin);
  size_t buf_size = kReadMin;
  int small_reads = 0;
  for (;;) {
    Result<size_t> n = co_await transport_->read(asio::buffer(buf.get(), buf_size));
    if (!n || *n == 0) {
      input_ended_ = true;
      onInputEnded(n ? std::string_view("peer closed") : std::string_view(n.error().message));
      signalWrite();
      break;
    }
    // Once the connection is over (or rejected), input is only drained until the peer ends:
    // dropping the transport earlier could lose the GOAWAY we sent.
    if (closed_ || input_rejected_) continue;
    receive(buf.get(), *n);
    small_reads = *n < kReadMin ? small_reads + 1 : 0;
    const size_t next = *n == buf_size                ? std::min(buf_size * 4, kReadMax)
                        : small_reads >= kShrinkAfter ? kReadMin
                                                      : buf_size;
    if (next != buf_size) {
      buf = std::make_unique_for_overwrite<uint8_t[]>(next);
      buf_size = next;
    }
  }
  while (!closed_) co_await closed_signal_.wait();
}

void Connection::receive(const uint8_t* data, size_t len) {
  header_block_.feed(data, len);
  if (!header_block_.inProgress()) {
    header_deadline_ = std::chrono::steady_clock::time_point::max();
  } else if (header_deadline_ == std::chrono::steady_clock::time_point::max()) {
    header_deadline_ = std::chrono::steady_clock::now() + options_.header_timeout;
    header_timer_.cancel();  // the loop waits for the new deadline
  }
  ssize_t rv = nghttp2_session_mem_recv(session_, data, len);
  if (rv < 0 && !input_rejected_) {
    logInfo("{}: bad HTTP/2 input: {}", logName(), nghttp2_strerror(static_cast<int>(rv)));
    terminate(rv == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
  }
  if (rv < 0) input_rejected_ = true;
  signalWrite();
}

bool Connection::withinFloodLimits(const nghttp2_frame& frame) {
  const bool ack = (frame.hd.flags & NGHTTP2_FLAG_ACK) != 0;
  if ((frame.hd.type == NGHTTP2_SETTINGS || frame.hd.type == NGHTTP2_PING) && !ack &&
      options_.control_frame_burst > 0) {
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - control_refill_).count();
    control_refill_ = now;
    control_tokens_ =
        std::min<double>(options_.control_frame_burst,
                         control_tokens_ + elapsed * options_.control_frames_per_second);
    if (control_tokens_ < 1) {
      logInfo("{}: SETTINGS/PING flood (over {} then {}/s), closing with ENHANCE_YOUR_CALM",
              logName(), options_.control_frame_burst, options_.control_frames_per_second);
      terminate(NGHTTP2_ENHANCE_YOUR_CALM);
      input_rejected_ = true;
      return false;
    }
    control_tokens_ -= 1;
  }
  const bool payload_frame = frame.hd.type == NGHTTP2_DATA || frame.hd.type == NGHTTP2_HEADERS ||
                             frame.hd.type == NGHTTP2_CONTINUATION;
  if (!payload_frame) return true;
  if (frame.hd.length > 0 || (frame.hd.flags & NGHTTP2_FLAG_END_STREAM)) {
    empty_frames_in_a_row_ = 0;
    return true;
  }
  if (options_.max_consecutive_empty_frames > 0 &&
      ++empty_frames_in_a_row_ > options_.max_consecutive_empty_frames) {
    logInfo("{}: {} empty frames in a row, closing with ENHANCE_YOUR_CALM", logName(),
            empty_frames_in_a_row_);
    terminate(NGHTTP2_ENHANCE_YOUR_CALM);
    input_rejected_ = true;
    return false;
  }
  return true;
}

asio::awaitable<void> Connection::writeLoop() {
  auto self = shared_from_this();
  while (!closed_) {
    if (!batch_) batch_ = Batch::take();
    batch_->size = 0;
    std::string failure;
    while (batch_->size < kWriteBatch) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n < 0) {
        failure =
            fmt::format("nghttp2_session_mem_send: {}", nghttp2_strerror(static_cast<int>(n)));
        break;
      }
      // 0: nothing more to send, or a DATA frame copied by onSendData() filled the batch.
      if (n == 0) break;
      std::memcpy(batch_->extend(static_cast<size_t>(n)), data, static_cast<size_t>(n));
    }
    const bool wrote = batch_->size > 0;
    if (wrote) {
      write_started_ = std::chrono::steady_clock::now();
      Status written = co_await transport_->write(asio::buffer(batch_->data.get(), batch_->size));
      write_started_ = std::chrono::steady_clock::time_point::max();
      if (closed_) break;
      if (!written) {
        end(written.message(), false);
        break;
      }
    }
    if (!failure.empty()) {
      end(failure, false);
      break;
    }
    if (wrote) continue;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
      end("HTTP/2 session finished", true);
      break;
    }
    if (input_rejected_) {
      end("bad input, GOAWAY sent", true);
      break;
    }
    if (input_ended_ && openStreams() == 0) {
      end("input ended, no stream left", true);
      break;
    }
    Batch::giveBack(std::move(batch_));
    co_await write_signal_.wait();
  }
}

asio::awaitable<void> Connection::idleLoop() {
  auto self = shared_from_this();
  const auto timeout = options_.idle_timeout;
  while (!closed_) {
    idle_timer_.expires_at(last_activity_ + timeout);
    error_code ec;
    co_await idle_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) break;
    const size_t streams = openStreams();
    if (streams > 0 && options_.idle_policy == IdlePolicy::kNoOpenStreams) {
      touch();
      continue;
    }
    if (std::chrono::steady_clock::now() < last_activity_ + timeout) continue;
    if (streams > 0) {
      logInfo("{}: {} open streams stalled for {}ms, closing", logName(), streams, timeout.count());
      close("stalled");
    } else {
      logDebug("{}: idle for {}ms, closing", logName(), timeout.count());
      terminate(NGHTTP2_NO_ERROR);
    }
    break;
  }
}

asio::awaitable<void> Connection::headerTimeoutLoop() {
  auto self = shared_from_this();
  while (!closed_) {
    header_timer_.expires_at(header_deadline_);
    error_code ec;
    co_await header_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (closed_) break;
    if (std::chrono::steady_clock::now() >= header_deadline_) {
      logInfo("{}: header block not complete within {}ms, closing", logName(),
              options_.header_timeout.count());
      onTimeout(Timeout::kHeader, 0);
      close("header timeout");
      break;
    }
  }
}

asio::awaitable<void> Connection::sendStallLoop() {
  auto self = shared_from_this();
  using Clock = std::chrono::steady_clock;
  const auto timeout = options_.send_stall_timeout;
  while (!closed_) {
    const Clock::time_point now = Clock::now();
    if (write_started_ != Clock::time_point::max() && now - write_started_ >= timeout) {
      logInfo("{}: the peer has not taken our bytes for {}ms (a write is stuck), closing",
              logName(),
              std::chrono::duration_cast<std::chrono::milliseconds>(now - write_started_).count());
      onTimeout(Timeout::kSendStall, 0);
      close("send stall");
      break;
    }
    Clock::time_point next = resetStalledStreams(now);
    if (write_started_ != Clock::time_point::max()) next = std::min(next, write_started_ + timeout);
    stall_timer_.expires_at(next);
    error_code ec;
    co_await stall_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

std::chrono::steady_clock::time_point Connection::resetStalledStreams(
    std::chrono::steady_clock::time_point now) {
  const auto timeout = options_.send_stall_timeout;
  // A stream that begins waiting later cannot stall before this.
  auto next = now + timeout;
  std::vector<PendingSend> pending;
  pendingSends(pending);
  for (const PendingSend& p : pending) {
    if (now - p.last_progress < timeout) {
      next = std::min(next, p.last_progress + timeout);
      continue;
    }
    if (closed_) break;
    logInfo(
        "{}: stream {} stalled: {} bytes waiting, none sent for {}ms (the peer's window stays "
        "shut), resetting it (CANCEL)",
        logName(), p.stream_id, p.bytes,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - p.last_progress).count());
    resetStream(p.stream_id, NGHTTP2_CANCEL);
    onTimeout(Timeout::kSendStall, p.stream_id);
  }
  return next;
}

void Connection::end(std::string_view why, bool graceful) {
  if (closed_) return;
  logDebug("{}: connection closed: {}", logName(), why);
  closed_ = true;
  close_reason_ = why;
  if (graceful) {
    transport_->finish();
  } else {
    transport_->close();
  }
  idle_timer_.cancel();
  header_timer_.cancel();
  stall_timer_.cancel();
  onClosed();
  write_signal_.notify();
  closed_signal_.notify();
}

void Connection::close(std::string_view why) { end(why, false); }

void Connection::shutdown() {
  if (session_ == nullptr) {
    shutdown_requested_ = true;
    return;
  }
  if (closed_ || goaway_sent_) return;
  nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  goaway_sent_ = true;
  signalWrite();
}

void Connection::terminate(uint32_t error_code) {
  if (closed_ || session_ == nullptr) return;
  nghttp2_session_terminate_session(session_, error_code);
  signalWrite();
}

void Connection::submitPing() {
  if (closed_ || session_ == nullptr) return;
  nghttp2_submit_ping(session_, NGHTTP2_FLAG_NONE, nullptr);
  signalWrite();
}

asio::awaitable<void> Connection::waitClosed() {
  auto self = shared_from_this();
  while (!closed_) co_await closed_signal_.wait();
}

uint32_t Connection::peerMaxConcurrentStreams() const {
  if (session_ == nullptr) return 0;
  return nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

bool Connection::streamIdsExhausted() const {
  return session_ != nullptr && nghttp2_session_get_next_stream_id(session_) > (1u << 30);
}

int32_t Connection::submitRequest(const HeaderList& headers, const nghttp2_data_provider* body,
                                  void* stream_data) {
  if (closed_ || session_ == nullptr) return NGHTTP2_ERR_INVALID_STATE;
  int32_t id =
      nghttp2_submit_request(session_, nullptr, headers.data(), headers.size(), body, stream_data);
  if (id < 0) return id;
  touch();
  signalWrite();
  return id;
}

Status Connection::submitResponse(int32_t stream_id, const HeaderList& headers,
                                  const nghttp2_data_provider* body) {
  if (closed_ || session_ == nullptr) return makeError("HTTP/2 connection is closed");
  int rv = nghttp2_submit_response(session_, stream_id, headers.data(), headers.size(), body);
  if (rv != 0) return makeError("nghttp2_submit_response: {}", nghttp2_strerror(rv));
  signalWrite();
  return Status::ok();
}

void Connection::resetStream(int32_t stream_id, uint32_t error_code) {
  if (closed_ || session_ == nullptr) return;
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream_id, error_code);
  signalWrite();
}

void Connection::resumeData(int32_t stream_id) {
  if (closed_ || session_ == nullptr) return;
  nghttp2_session_resume_data(session_, stream_id);
  signalWrite();
}

void Connection::consume(int32_t stream_id, size_t n) {
  if (closed_ || session_ == nullptr || n == 0) return;
  nghttp2_session_consume(session_, stream_id, n);  // connection + (if open) stream window
  signalWrite();
}

void Connection::consumeConnection(size_t n) {
  if (closed_ || session_ == nullptr || n == 0) return;
  nghttp2_session_consume_connection(session_, n);
  signalWrite();
}

void* Connection::streamData(int32_t stream_id) const {
  if (session_ == nullptr) return nullptr;
  return nghttp2_session_get_stream_user_data(session_, stream_id);
}

void Connection::setStreamData(int32_t stream_id, void* data) {
  if (session_ != nullptr) nghttp2_session_set_stream_user_data(session_, stream_id, data);
}

}  // namespace ambit::http2
