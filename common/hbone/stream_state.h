#pragma once
// Internal: the state of one HTTP/2 CONNECT stream, shared by the nghttp2 callbacks (producer
// of received bytes, consumer of bytes to send) and the HboneStream user (the opposite).
//
// Flow control: received DATA is buffered here and handed to nghttp2_session_consume() only
// when the user consumes it (after writing it to TCP), so the buffer is bounded by the stream
// window we advertise. Sending: write() (or prepareSend() + commitSend(), which read a socket
// straight into the queue) queues at most Http2Options::stream_send_buffer bytes and then
// waits; the nghttp2 data provider drains the queue as the peer's window allows, without a copy
// of its own (NGHTTP2_DATA_FLAG_NO_COPY: the connection copies the bytes straight into its
// output batch through copyData()), and defers (NGHTTP2_ERR_DEFERRED) when it is empty; a
// write resumes it. Both queues free their blocks once drained: an idle tunnel holds none. The time
// of the last send progress (bytes taken by the provider, or bytes queued into an empty buffer)
// tells the connection's send-stall timeout whether the peer stopped taking them.

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/async/signal.h"
#include "common/hbone/byte_queue.h"
#include "common/hbone/connection.h"

namespace ambit::hbone::detail {

class StreamState final : public http2::DataSource {
 public:
  StreamState(std::shared_ptr<HboneConnection> connection, int32_t id);

  // --- nghttp2 side (called from session callbacks) ---
  // Records one header; false when the block passes `max_bytes` (RFC 7541 size accounting).
  bool addHeader(std::string_view name, std::string_view value, size_t max_bytes);
  void onData(const uint8_t* data, size_t len);
  void onRemoteEnd();
  void onClosed(uint32_t error_code);
  void onResponseHeaders() { recv_signal_.notify(); }
  // The connection reset the stream for a send stall: fails the user now (the splice closes its
  // TCP side) and drops the buffers; nghttp2's own close may come much later.
  void onStalled() { onClosed(NGHTTP2_CANCEL); }
  nghttp2_data_provider dataProvider();

  // http2::DataSource: moves the next out.size() queued bytes into the connection's batch.
  void copyData(std::span<uint8_t> out) override;

  // --- user side ---
  // Waits until bytes are readable; returns how many (all queued), 0 once the peer half-closed
  // (END_STREAM) and nothing is left; an error means the stream was reset or the connection
  // lost. Bytes stay buffered (and unacknowledged to the peer) until consume().
  asio::awaitable<Result<size_t>> readable();
  // readable()'s answer now, or nullopt when it would wait: then onReceiveChange(handler) runs
  // the handler (with an error_code to ignore) at the next change worth checking again.
  std::optional<Result<size_t>> readableNow() const;
  template <typename Handler>
  void onReceiveChange(Handler&& handler) {
    recv_signal_.asyncWait(std::forward<Handler>(handler));
  }
  // Views of the readable bytes, oldest first (one per buffer block); valid until consume().
  size_t gatherReadable(std::span<asio::const_buffer> out) const { return recv_.gather(out); }
  void consume(size_t n);
  // Queues the pieces in order, copied into the send queue as append() fills it, waking the
  // connection once per region copied; waits only when the send buffer is full.
  asio::awaitable<Status> write(std::span<const asio::const_buffer> pieces);
  // Waits until the send buffer has room; an error once the stream is closed or shut.
  asio::awaitable<Status> waitSendRoom();
  // waitSendRoom()'s answer now, or nullopt when it would wait (see onSendChange()).
  std::optional<Status> sendRoomNow() const;
  template <typename Handler>
  void onSendChange(Handler&& handler) {
    send_signal_.asyncWait(std::forward<Handler>(handler));
  }
  // Room at the send queue's tail for 1 to `chunk` bytes (within the send buffer limit), to
  // fill synchronously and hand to commitSend() before anything else touches the stream.
  asio::mutable_buffer prepareSend(size_t chunk);
  void commitSend(size_t n);
  void shutdownWrite();
  void reset(uint32_t error_code);
  // Client: waits for the response header block (or stream end).
  asio::awaitable<void> waitResponse();
  // Drops unread data (returning its window) and resets the stream unless both halves have
  // ended (then the queued tail and END_STREAM still go out).
  void abandon();

  int32_t id() const { return id_; }
  void setId(int32_t id) { id_ = id; }
  bool closed() const { return closed_; }
  bool remoteEnded() const { return remote_end_; }
  bool localEnded() const { return write_shut_; }
  uint32_t closeCode() const { return close_code_; }
  // Bytes queued and not yet taken by nghttp2 (0 once closed).
  size_t sendWaiting() const { return closed_ ? 0 : send_.size(); }
  std::chrono::steady_clock::time_point lastSendProgress() const { return send_progress_; }
  const std::shared_ptr<HboneConnection>& connection() const { return connection_; }

  // Header block fields (request on the server, response on the client).
  std::string method;
  std::string authority;
  std::string scheme_or_path;  // set when :scheme/:path are present (not allowed on CONNECT)
  int status = 0;
  Headers headers;  // regular (non-pseudo) headers

 private:
  size_t sendRoom() const;
  static ssize_t provide(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                         nghttp2_data_source* source, void*);
  void kickSend();

  std::shared_ptr<HboneConnection> connection_;
  int32_t id_;
  ByteQueue recv_;
  ByteQueue send_;
  Signal recv_signal_;  // received bytes, END_STREAM, close, and the response header block
  Signal send_signal_;
  size_t header_bytes_ = 0;
  std::chrono::steady_clock::time_point send_progress_;
  uint32_t close_code_ = NGHTTP2_NO_ERROR;
  bool closed_ = false;
  bool remote_end_ = false;
  bool write_shut_ = false;
  bool deferred_ = false;
  bool window_returned_ = false;
};

}  // namespace ambit::hbone::detail
