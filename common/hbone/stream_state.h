#pragma once
// Internal: the state of one HTTP/2 CONNECT stream, shared by the nghttp2 callbacks (producer
// of received bytes, consumer of bytes to send) and the HboneStream user (the opposite).
//
// Flow control: received DATA is buffered here and handed to nghttp2_session_consume() only
// when the user consumes it (after writing it to TCP), so the buffer is bounded by the stream
// window we advertise. Sending: write() queues at most Http2Options::stream_send_buffer bytes
// and then waits; the nghttp2 data provider drains the queue as the peer's window allows and
// defers (NGHTTP2_ERR_DEFERRED) when it is empty, write() resumes it. The time of the last send
// progress (bytes taken by the provider, or bytes queued into an empty buffer) tells the
// connection's send-stall timeout whether the peer stopped taking them.

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "common/async/signal.h"
#include "common/hbone/connection.h"

namespace ambit::hbone::detail {

// FIFO of byte chunks.
class ByteQueue {
 public:
  void append(const uint8_t* data, size_t n);
  size_t pop(uint8_t* out, size_t max);  // copies and removes up to max bytes
  void drop(size_t n);
  asio::const_buffer front() const;
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear();

 private:
  std::deque<std::vector<uint8_t>> chunks_;
  size_t front_offset_ = 0;
  size_t size_ = 0;
};

class StreamState {
 public:
  StreamState(std::shared_ptr<HboneConnection> connection, int32_t id);

  // --- nghttp2 side (called from session callbacks) ---
  // Records one header; false when the block passes `max_bytes` (RFC 7541 size accounting).
  bool addHeader(std::string_view name, std::string_view value, size_t max_bytes);
  void onData(const uint8_t* data, size_t len);
  void onRemoteEnd();
  void onClosed(uint32_t error_code);
  void onResponseHeaders() { response_signal_.notify(); }
  // The connection reset the stream for a send stall: fails the user now (the splice closes its
  // TCP side) and drops the buffers; nghttp2's own close may come much later.
  void onStalled() { onClosed(NGHTTP2_CANCEL); }
  nghttp2_data_provider dataProvider();

  // --- user side ---
  // Waits until bytes are readable. An empty buffer means the peer half-closed (END_STREAM);
  // an error means the stream was reset or the connection lost. Bytes stay buffered (and
  // unacknowledged to the peer) until consume().
  asio::awaitable<Result<asio::const_buffer>> readable();
  void consume(size_t n);
  asio::awaitable<Status> write(asio::const_buffer data);
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
  static ssize_t provide(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                         nghttp2_data_source* source, void*);
  void kickSend();

  std::shared_ptr<HboneConnection> connection_;
  int32_t id_;
  ByteQueue recv_;
  ByteQueue send_;
  Signal recv_signal_;
  Signal send_signal_;
  Signal response_signal_;
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
