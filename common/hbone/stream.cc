#include "common/hbone/stream.h"

#include <algorithm>
#include <array>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstring>
#include <span>

#include "common/hbone/stream_state.h"

namespace ambit::hbone {
namespace detail {

StreamState::StreamState(std::shared_ptr<HboneConnection> connection, int32_t id)
    : connection_(std::move(connection)),
      id_(id),
      recv_signal_(connection_->executor()),
      send_signal_(connection_->executor()) {}

bool StreamState::addHeader(std::string_view name, std::string_view value, size_t max_bytes) {
  header_bytes_ += name.size() + value.size() + 32;
  if (header_bytes_ > max_bytes) return false;
  if (name == ":method") {
    method = value;
  } else if (name == ":authority") {
    authority = value;
  } else if (name == ":scheme" || name == ":path") {
    scheme_or_path = value;
  } else if (name == ":status") {
    int v = 0;
    for (char c : value) v = v * 10 + (c - '0');  // nghttp2 validated: 3 digits
    status = v;
  } else if (name.empty() || name.front() != ':') {
    headers.push_back(Header{std::string(name), std::string(value)});
  }
  return true;
}

void StreamState::onData(const uint8_t* data, size_t len) {
  recv_.append(data, len);
  recv_signal_.notify();
}

void StreamState::onRemoteEnd() {
  remote_end_ = true;
  recv_signal_.notify();
}

void StreamState::onClosed(uint32_t error_code) {
  if (closed_) return;
  closed_ = true;
  close_code_ = error_code;
  if (!remote_end_ && !recv_.empty() && !connection_->closed()) {
    // A reset stream's unread bytes are discarded: return them to the connection window now.
    // The buffer itself stays until consume(): a splice may be writing from it.
    connection_->consumeConnection(recv_.size());
    window_returned_ = true;
  }
  send_.clear();
  recv_signal_.notify();
  send_signal_.notify();
}

nghttp2_data_provider StreamState::dataProvider() {
  nghttp2_data_provider provider{};
  provider.source.ptr = static_cast<http2::DataSource*>(this);
  provider.read_callback = &StreamState::provide;
  return provider;
}

ssize_t StreamState::provide(nghttp2_session*, int32_t, uint8_t*, size_t length, uint32_t* flags,
                             nghttp2_data_source* source, void*) {
  auto* self = static_cast<StreamState*>(static_cast<http2::DataSource*>(source->ptr));
  const size_t n = std::min(length, self->send_.size());
  if (n > 0) *flags |= NGHTTP2_DATA_FLAG_NO_COPY;  // copyData() moves the bytes
  if (n == self->send_.size() && self->write_shut_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (n == 0) {
    self->deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

void StreamState::copyData(std::span<uint8_t> out) {
  const size_t n = send_.pop(out);
  if (n > 0) {
    send_progress_ = std::chrono::steady_clock::now();
    send_signal_.notify();
  }
}

void StreamState::kickSend() {
  if (closed_ || connection_->closed()) return;
  if (deferred_) {
    deferred_ = false;
    connection_->resumeData(id_);
  }
  connection_->signalWrite();
}

std::optional<Result<size_t>> StreamState::readableNow() const {
  if (closed_ && !remote_end_) {
    return Result<size_t>(Error{
        ECONNRESET, fmt::format("HBONE stream {} reset (HTTP/2 error code {})", id_, close_code_)});
  }
  if (!recv_.empty() || remote_end_) return Result<size_t>(recv_.size());
  return std::nullopt;
}

asio::awaitable<Result<size_t>> StreamState::readable() {
  for (;;) {
    if (auto now = readableNow()) co_return std::move(*now);
    co_await recv_signal_.wait();
  }
}

void StreamState::consume(size_t n) {
  n = std::min(n, recv_.size());
  recv_.drop(n);
  if (n == 0 || window_returned_) return;
  connection_->consume(id_, n);
}

size_t StreamState::sendRoom() const {
  const size_t limit = connection_->options().stream_send_buffer;
  return send_.size() < limit ? limit - send_.size() : 0;
}

std::optional<Status> StreamState::sendRoomNow() const {
  if (closed_) return Status(Error{EPIPE, fmt::format("HBONE stream {} is closed", id_)});
  if (write_shut_) {
    return Status(Error{EPIPE, fmt::format("HBONE stream {}: write after shutdown", id_)});
  }
  if (sendRoom() > 0) return Status::ok();
  return std::nullopt;
}

asio::awaitable<Status> StreamState::waitSendRoom() {
  for (;;) {
    if (auto now = sendRoomNow()) co_return std::move(*now);
    co_await send_signal_.wait();
  }
}

asio::mutable_buffer StreamState::prepareSend(size_t chunk) {
  const size_t max = std::min(chunk, sendRoom());
  return send_.prepare(max, max);
}

void StreamState::commitSend(size_t n) {
  if (n > 0 && send_.empty()) send_progress_ = std::chrono::steady_clock::now();
  send_.commit(n);
  if (n > 0) kickSend();
}

asio::awaitable<Status> StreamState::write(std::span<const asio::const_buffer> pieces) {
  size_t left = 0;
  for (const auto& p : pieces) left += p.size();
  size_t piece = 0;
  size_t offset = 0;  // into pieces[piece]
  while (left > 0) {
    // Room now (the common case) costs no wait, and no coroutine frame for one.
    if (std::optional<Status> room = sendRoomNow()) {
      if (!*room) co_return std::move(*room);
    } else {
      AMBIT_CO_TRY(co_await waitSendRoom());
    }
    // The tail block's free room first, else a new block for what is left (as append() does),
    // and the pieces copied into it.
    const asio::mutable_buffer region = send_.prepareAppend(std::min(left, sendRoom()));
    auto* out = static_cast<uint8_t*>(region.data());
    size_t filled = 0;
    while (filled < region.size()) {
      const size_t n = std::min(region.size() - filled, pieces[piece].size() - offset);
      if (n > 0) {
        std::memcpy(out + filled, static_cast<const uint8_t*>(pieces[piece].data()) + offset, n);
      }
      filled += n;
      offset += n;
      if (offset == pieces[piece].size()) {
        ++piece;
        offset = 0;
      }
    }
    left -= filled;
    commitSend(filled);
  }
  co_return Status::ok();
}

void StreamState::shutdownWrite() {
  if (write_shut_) return;
  write_shut_ = true;
  kickSend();
}

void StreamState::reset(uint32_t error_code) {
  if (closed_) return;
  connection_->resetStream(id_, error_code);
}

asio::awaitable<void> StreamState::waitResponse() {
  while (status == 0 && !closed_) co_await recv_signal_.wait();
}

void StreamState::abandon() {
  if (!recv_.empty()) consume(recv_.size());
  // Both halves finished: nghttp2 may still be sending our queued tail and END_STREAM.
  if (write_shut_ && remote_end_) return;
  if (!closed_) reset(NGHTTP2_CANCEL);
}

}  // namespace detail

HboneStream::HboneStream(std::shared_ptr<detail::StreamState> state) : state_(std::move(state)) {}
HboneStream::HboneStream(HboneStream&&) noexcept = default;
HboneStream& HboneStream::operator=(HboneStream&& other) noexcept {
  if (this != &other) {
    if (state_) state_->abandon();
    state_ = std::move(other.state_);
  }
  return *this;
}
HboneStream::~HboneStream() {
  if (state_) state_->abandon();
}

int32_t HboneStream::streamId() const { return state_ ? state_->id() : -1; }

const std::string& HboneStream::peerIdentity() const {
  static const std::string kNone;
  return state_ ? state_->connection()->peerIdentity() : kNone;
}

asio::awaitable<Result<size_t>> HboneStream::read(asio::mutable_buffer buffer) {
  if (!state_) co_return makeError("read on an empty HboneStream");
  // Bytes already queued (or the end, or a reset) need no wait, and no coroutine frame for one.
  // (No co_await inside a conditional expression: GCC 12 destroys its temporaries twice.)
  std::optional<Result<size_t>> readable = state_->readableNow();
  if (!readable) {
    Result<size_t> waited = co_await state_->readable();
    readable.emplace(std::move(waited));
  }
  if (!*readable) co_return readable->error();
  std::array<asio::const_buffer, 8> queued;
  const size_t filled = state_->gatherReadable(queued);
  size_t n = asio::buffer_copy(buffer, std::span(queued.data(), filled));
  state_->consume(n);
  co_return n;
}

asio::awaitable<Status> HboneStream::write(asio::const_buffer data) {
  if (!state_) co_return makeError("write on an empty HboneStream");
  co_return co_await state_->write(std::span(&data, 1));  // `data` lives in this frame
}

asio::awaitable<Status> HboneStream::write(std::span<const asio::const_buffer> pieces) {
  if (!state_) co_return makeError("write on an empty HboneStream");
  co_return co_await state_->write(pieces);
}

void HboneStream::shutdownWrite() {
  if (state_) state_->shutdownWrite();
}

void HboneStream::reset(uint32_t h2_error_code) {
  if (state_) state_->reset(h2_error_code);
}

}  // namespace ambit::hbone
