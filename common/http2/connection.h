#pragma once
// http2::Connection: one HTTP/2 connection (nghttp2) over any byte stream, the part every
// HTTP/2 user in ambit shares. Two layers derive from it and give streams their meaning:
// HBONE's CONNECT tunnels over mTLS (hbone::detail::HboneConnection) and the waypoint's
// buffered h2c messages inside a tunnel (waypoint::H2cConnection).
//
// The core owns: the nghttp2 session and its callbacks, our SETTINGS (stream limit, initial
// stream window, header list size) and connection receive window, the read loop that feeds
// the session, the write loop that batches its output onto the Transport, GOAWAY (graceful
// drain and protocol errors), PING, the idle timeout and the end of the connection. A layer
// overrides the protected hooks (called from inside nghttp2 callbacks) and submits frames
// through the methods below, each of which wakes the writer.
//
// Life: start() creates the session and queues SETTINGS; run() serves until the connection
// is over, which happens when
//   - nghttp2 wants neither to read nor to write (GOAWAY sent or received, no open stream,
//     or a terminating GOAWAY is out): the transport is finished gracefully;
//   - the peer ended its direction: by default the connection closes (onInputEnded()); a layer
//     that still answers open streams ends gracefully once none is left;
//   - writing fails, or close() is called: the transport is closed at once.
// Either way onClosed() lets the layer fail what is still open. Bad input (the session rejects
// bytes: not HTTP/2, a flood) is answered with GOAWAY (PROTOCOL_ERROR / ENHANCE_YOUR_CALM); the
// rest of the input is discarded and the connection ends once the GOAWAY is written.
//
// Slow headers: a header block not received in full within header_timeout of its first byte
// closes the connection (logged at info).
//
// Send stalls (send_stall_timeout): a stream with bytes waiting to be sent (pendingSends()) that
// made no send progress for that long is reset with RST_STREAM CANCEL and the layer drops it
// (onTimeout); a transport write outstanding for that long (the peer stopped reading the
// connection itself) closes the connection. Quiet streams with nothing waiting are not affected.
//
// Idle: see IdlePolicy. The connection measures activity itself (streams opened and closed,
// and under kNoFrames every frame either way); layers may add their own (touch()).
//
// Thread model: a connection lives on one single-threaded executor (an io_context thread or a
// strand); call everything there. Hooks run inside nghttp2 callbacks: they may submit frames
// and read state, and must not destroy the connection. The connection keeps itself alive
// (shared_from_this) while run() and its helper loops are running.

#include <nghttp2/nghttp2.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/async/signal.h"
#include "common/http2/header_block_tracker.h"
#include "common/http2/header_list.h"
#include "common/http2/transport.h"
#include "common/status.h"

namespace ambit::http2 {

enum class Role { kClient, kServer };

// What a timeout ended (onTimeout()).
enum class Timeout {
  kHeader,     // a header block was not complete in time: the connection is closed
  kSendStall,  // a stream (id > 0) was reset, or the connection (id 0) closed, for a send stall
};

// A stream with bytes waiting to be sent (Connection::pendingSends()).
struct PendingSend {
  int32_t stream_id = 0;
  size_t bytes = 0;  // waiting in the layer's buffer
  // The last time bytes of the stream were sent, or when bytes began waiting if later.
  std::chrono::steady_clock::time_point last_progress;
};

enum class IdlePolicy {
  // Idle means no stream open for idle_timeout; the connection then sends GOAWAY and ends.
  // Open streams keep it alive however quiet they are (HBONE tunnels may be silent for hours).
  kNoOpenStreams,
  // Idle means no frame sent or received for idle_timeout. Without open
  // streams the connection sends GOAWAY; with open streams it is stalled (a peer that stopped
  // reading or sending, an upstream that never answers) and the transport is closed.
  kNoFrames,
};

struct ConnectionOptions {
  uint32_t max_concurrent_streams = 100;      // advertised in our SETTINGS
  uint32_t stream_window = 1u << 20;          // SETTINGS_INITIAL_WINDOW_SIZE we advertise
  uint32_t connection_window = 8u << 20;      // our connection receive window
  uint32_t max_header_list_size = 16u << 10;  // SETTINGS_MAX_HEADER_LIST_SIZE we advertise
  // SETTINGS_MAX_FRAME_SIZE we advertise (16 KiB to 16 MiB - 1): the largest frame the peer may
  // send us. Frames arrive in pieces as the transport delivers them, so this costs no buffer.
  uint32_t max_frame_size = 1u << 20;
  // The largest DATA payload we send, further limited by the peer's SETTINGS_MAX_FRAME_SIZE
  // (16 KiB unless it advertised more) and the flow-control windows.
  uint32_t max_send_frame = 64u << 10;
  // false: nghttp2 returns receive window as DATA arrives. true: only consume() returns it,
  // so the peer can have at most one window of bytes unread by the application in flight.
  bool manual_window_update = false;
  // Largest header block we send; 0 keeps nghttp2's default (64 KiB).
  size_t max_send_header_block = 0;
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  IdlePolicy idle_policy = IdlePolicy::kNoOpenStreams;
  // A header block (HEADERS/PUSH_PROMISE + CONTINUATIONs) received over longer than this closes
  // the connection (slowloris: a request begun and never finished, which would otherwise keep
  // the connection and its stream open for as long as the idle policy allows). 0: no limit.
  std::chrono::milliseconds header_timeout{std::chrono::seconds(10)};
  // Inbound SETTINGS and PING frames (not ACKs): a burst, then a steady rate. Each costs an ACK;
  // nghttp2 alone stops a flood only once unsent ACKs pile up, which a fast reader never lets
  // happen. Beyond the budget the connection ends with ENHANCE_YOUR_CALM. Burst 0: no limit.
  uint32_t control_frame_burst = 1000;
  uint32_t control_frames_per_second = 100;
  // DATA, HEADERS or CONTINUATION frames in a row with an empty payload and no END_STREAM (legal
  // one at a time, pure cost in a flood) end the connection with ENHANCE_YOUR_CALM. 0: no limit.
  uint32_t max_consecutive_empty_frames = 100;
  // A stream whose bytes wait this long without any being sent (the peer's window stays shut) is
  // reset (CANCEL); a transport write outstanding this long closes the connection. 0: no limit.
  std::chrono::milliseconds send_stall_timeout{0};
  std::string log_name = "HTTP/2";  // prefixes every log line ("HBONE 10.0.0.1")
};

// A stream body the core copies straight into its output batch (NGHTTP2_DATA_FLAG_NO_COPY):
// a data provider whose read callback sets that flag (and returns how many bytes the frame
// carries, without copying them) must point source.ptr at a DataSource; the core then calls
// copyData() with room for exactly those bytes, while the frame is serialized.
class DataSource {
 public:
  // Moves the next out.size() bytes of the body into `out` (all of them: the read callback
  // promised that many).
  virtual void copyData(std::span<uint8_t> out) = 0;

 protected:
  ~DataSource() = default;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::unique_ptr<Transport> transport, asio::any_io_executor executor, Role role,
             ConnectionOptions options);
  virtual ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Creates the nghttp2 session and queues our SETTINGS (and a GOAWAY when shutdown() came
  // first).
  Status start();
  // Serves a started connection until it is over (see above). `already_read` are bytes taken
  // from the transport before (e.g. a sniffed client preface).
  asio::awaitable<void> run(std::string already_read = {});
  // start(), then run() detached: the connection goes on by itself.
  Status startDetached();

  // GOAWAY (NO_ERROR): streams already open finish, no new ones start; the connection ends
  // after them. Before start(): sent as soon as it starts.
  void shutdown();
  // Ends the connection now: the transport is closed, onClosed() fails what is open.
  void close(std::string_view why);
  // GOAWAY with `error_code`: nothing more is processed; ends once the GOAWAY is out.
  void terminate(uint32_t error_code);
  void submitPing();
  // Completes once the connection is over.
  asio::awaitable<void> waitClosed();

  bool closed() const { return closed_; }
  // Why the connection ended (set before onClosed()): "peer closed", a transport error, the
  // reason given to close()...
  const std::string& closeReason() const { return close_reason_; }
  bool started() const { return session_ != nullptr; }
  bool goawayReceived() const { return goaway_received_; }
  bool goawaySent() const { return goaway_sent_; }
  bool inputEnded() const { return input_ended_; }
  // The peer's SETTINGS_MAX_CONCURRENT_STREAMS (nghttp2's default until its SETTINGS arrive).
  uint32_t peerMaxConcurrentStreams() const;
  // Client: stream ids are running out (a new connection should take new streams).
  bool streamIdsExhausted() const;
  asio::any_io_executor executor() const { return executor_; }
  const ConnectionOptions& connectionOptions() const { return options_; }
  Role role() const { return role_; }

  // --- streams (each wakes the writer) ---
  // Client: a new stream; returns its id, or a negative nghttp2 error code.
  int32_t submitRequest(const HeaderList& headers, const nghttp2_data_provider* body,
                        void* stream_data);
  // Server: the response header block; `body` null ends the stream with it.
  Status submitResponse(int32_t stream_id, const HeaderList& headers,
                        const nghttp2_data_provider* body);
  // RST_STREAM.
  void resetStream(int32_t stream_id, uint32_t error_code);
  // A data provider that returned NGHTTP2_ERR_DEFERRED has data again.
  void resumeData(int32_t stream_id);
  // manual_window_update: the application took `n` bytes of the stream (and the connection).
  void consume(int32_t stream_id, size_t n);
  // The same for bytes that no stream will ever take (a reset stream's unread data).
  void consumeConnection(size_t n);
  // Wakes the writer after anything queued frames in nghttp2.
  void signalWrite() { write_signal_.notify(); }

  // Frees the output batches this thread keeps for reuse (up to 16, ~1 MB after a bulk
  // transfer); see ByteQueue::releaseCachedBlocks. Returns the bytes freed.
  static size_t releaseCachedBatches();

 protected:
  // --- hooks for the layer, called from nghttp2 callbacks unless said otherwise ---
  // Server: a HEADERS frame opens stream `stream_id` (a request begins).
  virtual void onRequestBegin(int32_t stream_id) { (void)stream_id; }
  // One received header field; returns 0 or an nghttp2 callback error code.
  virtual int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) {
    (void)frame, (void)name, (void)value;
    return 0;
  }
  // A whole frame arrived (after the core noted GOAWAY).
  virtual void onFrameReceived(const nghttp2_frame& frame) { (void)frame; }
  virtual void onData(int32_t stream_id, const uint8_t* data, size_t len) {
    (void)stream_id, (void)data, (void)len;
  }
  virtual void onStreamClosed(int32_t stream_id, uint32_t error_code) {
    (void)stream_id, (void)error_code;
  }
  virtual void onFrameSent(const nghttp2_frame& frame) { (void)frame; }
  // Not from a callback: the transport's read side ended (`why`: "peer closed" or the error).
  // No more input will come. Default: the connection is over (close()). A layer whose open
  // streams may still be answered overrides it; the connection then ends gracefully once no
  // stream is left.
  virtual void onInputEnded(std::string_view why) { close(why); }
  // Not from a callback: the connection is over; fail whatever is still open.
  virtual void onClosed() {}
  // Streams the layer still tracks (for idle and for ending after the input ended).
  virtual size_t openStreams() const = 0;
  // Not from a callback: the streams with bytes waiting to be sent (for send_stall_timeout).
  virtual void pendingSends(std::vector<PendingSend>& out) const { (void)out; }
  // Not from a callback: a timeout ended stream `stream_id` (RST_STREAM CANCEL is queued; the
  // layer fails the stream's user and drops its buffers now, as the reset may never be written)
  // or, with stream_id 0, the connection (onClosed() follows).
  virtual void onTimeout(Timeout kind, int32_t stream_id) { (void)kind, (void)stream_id; }

  // Records activity for the idle timeout.
  void touch() { last_activity_ = std::chrono::steady_clock::now(); }
  const std::string& logName() const { return options_.log_name; }
  // The stream's pointer given to submitRequest() (null if none or closed).
  void* streamData(int32_t stream_id) const;
  void setStreamData(int32_t stream_id, void* data);

 private:
  struct Callbacks;
  friend struct Callbacks;
  // Bytes serialized for one transport write, borrowed from a per-thread cache while there is
  // something to send (an idle connection holds none).
  struct Batch;

  asio::awaitable<void> writeLoop();
  asio::awaitable<void> idleLoop();
  asio::awaitable<void> headerTimeoutLoop();
  asio::awaitable<void> sendStallLoop();
  // Resets the streams stalled at `now`; returns when the next one may stall.
  std::chrono::steady_clock::time_point resetStalledStreams(
      std::chrono::steady_clock::time_point now);
  void receive(const uint8_t* data, size_t len);
  // A received frame within the flood limits; false: the connection was terminated.
  bool withinFloodLimits(const nghttp2_frame& frame);
  // Ends the connection: gracefully (the transport is finished) or not (closed).
  void end(std::string_view why, bool graceful);

  std::unique_ptr<Transport> transport_;
  asio::any_io_executor executor_;
  Role role_;
  ConnectionOptions options_;
  nghttp2_session* session_ = nullptr;
  std::unique_ptr<Batch> batch_;  // being filled or written; null when idle
  Signal write_signal_;           // frames may be ready to send
  Signal closed_signal_;          // the connection is over
  asio::steady_timer idle_timer_;
  HeaderBlockTracker header_block_;
  asio::steady_timer header_timer_;
  asio::steady_timer stall_timer_;
  // When the transport write in progress began (time_point::max(): none in progress).
  std::chrono::steady_clock::time_point write_started_ =
      std::chrono::steady_clock::time_point::max();
  // When the header block in progress must be complete (time_point::max(): none in progress).
  std::chrono::steady_clock::time_point header_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point last_activity_;
  double control_tokens_ = 0;  // control frames the peer may still send now
  std::chrono::steady_clock::time_point control_refill_;
  uint32_t empty_frames_in_a_row_ = 0;
  bool closed_ = false;
  std::string close_reason_;
  bool input_ended_ = false;     // the transport's read side ended
  bool input_rejected_ = false;  // bad input: the rest is discarded
  bool goaway_received_ = false;
  bool goaway_sent_ = false;
  bool shutdown_requested_ = false;  // shutdown() before start()
};

}  // namespace ambit::http2
