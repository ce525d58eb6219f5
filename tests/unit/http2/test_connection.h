#pragma once
// TestConnection: the smallest layer over http2::Connection, to test the core by itself over
// a socketpair. A server answers every request, once its END_STREAM arrived, with 200 and the
// request body echoed; a client sends requests whose body may be held back and released later.
// Every stream stays inspectable after it closed.

#include <boost/asio/local/stream_protocol.hpp>
#include <cstring>
#include <map>
#include <memory>
#include <span>
#include <string>

#include "common/http2/asio_transport.h"
#include "common/http2/connection.h"

namespace ambit::http2::testing {

using Socket = asio::local::stream_protocol::socket;

class TestConnection final : public Connection {
 public:
  struct Stream final : DataSource {
    int32_t id = 0;
    std::string received;  // DATA
    std::string status;    // client: the response's :status
    bool ended = false;    // END_STREAM received
    bool closed = false;
    uint32_t close_code = 0;
    std::string out;  // body to send
    size_t sent = 0;
    bool out_done = true;  // false: the body is held back after `out` (the stream stays open)
    bool deferred = false;
    bool no_copy = false;  // the body goes out through copyData()

    void copyData(std::span<uint8_t> dst) override {
      std::memcpy(dst.data(), out.data() + sent, dst.size());
      sent += dst.size();
    }
  };

  TestConnection(Socket socket, Role role, ConnectionOptions options)
      : TestConnection(socket.get_executor(), std::move(socket), role, std::move(options)) {}

  // Client: a request carrying `body`; with `hold` the stream stays open after it.
  std::shared_ptr<Stream> request(std::string body, bool hold = false) {
    auto st = std::make_shared<Stream>();
    st->out = std::move(body);
    st->out_done = !hold;
    HeaderList fields;
    fields.addView(":method", "POST");
    fields.addView(":scheme", "http");
    fields.addView(":authority", "test");
    fields.addView(":path", "/");
    nghttp2_data_provider provider = providerFor(*st);
    st->id = submitRequest(fields, &provider, nullptr);
    if (st->id > 0) streams_[st->id] = st;
    return st;
  }
  // Client: ends a held request (END_STREAM after what it already had).
  void release(Stream& st) {
    st.out_done = true;
    if (st.deferred) {
      st.deferred = false;
      resumeData(st.id);
    }
  }
  // manual_window_update: hands every byte received so far back to the peer's windows.
  void consumeAll(Stream& st) {
    consume(st.id, st.received.size() - consumed_[st.id]);
    consumed_[st.id] = st.received.size();
  }

  // Bodies submitted from now on go out with NGHTTP2_DATA_FLAG_NO_COPY (DataSource).
  bool no_copy = false;
  // Server: the streams seen, by id.
  std::map<int32_t, std::shared_ptr<Stream>> seen;
  int settings_received = 0;  // non-ACK SETTINGS frames
  int ping_acks = 0;
  bool input_ended_hook = false;
  bool closed_hook = false;

 protected:
  void onRequestBegin(int32_t id) override {
    auto st = std::make_shared<Stream>();
    st->id = id;
    streams_[id] = st;
    seen[id] = st;
  }
  int onHeader(const nghttp2_frame& frame, std::string_view name, std::string_view value) override {
    if (name == ":status") {
      if (auto* st = find(frame.hd.stream_id)) st->status = value;
    }
    return 0;
  }
  void onFrameReceived(const nghttp2_frame& frame) override {
    if (frame.hd.type == NGHTTP2_SETTINGS && !(frame.hd.flags & NGHTTP2_FLAG_ACK)) {
      ++settings_received;
    }
    if (frame.hd.type == NGHTTP2_PING && (frame.hd.flags & NGHTTP2_FLAG_ACK)) ++ping_acks;
    Stream* st = find(frame.hd.stream_id);
    if (st == nullptr || !(frame.hd.flags & NGHTTP2_FLAG_END_STREAM)) return;
    st->ended = true;
    if (role() != Role::kServer) return;
    st->out = st->received;
    HeaderList fields;
    fields.addView(":status", "200");
    nghttp2_data_provider provider = providerFor(*st);
    (void)submitResponse(st->id, fields, &provider);
  }
  void onData(int32_t id, const uint8_t* data, size_t len) override {
    if (auto* st = find(id)) st->received.append(reinterpret_cast<const char*>(data), len);
  }
  void onStreamClosed(int32_t id, uint32_t error_code) override {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    it->second->closed = true;
    it->second->close_code = error_code;
    streams_.erase(it);
  }
  void onInputEnded(std::string_view why) override {
    input_ended_hook = true;
    Connection::onInputEnded(why);
  }
  void onClosed() override {
    closed_hook = true;
    for (auto& [id, st] : streams_) st->closed = true;
    streams_.clear();
  }
  size_t openStreams() const override { return streams_.size(); }

 private:
  TestConnection(asio::any_io_executor executor, Socket&& socket, Role role,
                 ConnectionOptions options)
      : Connection(std::make_unique<AsioStreamTransport<Socket>>(std::move(socket)),
                   std::move(executor), role, std::move(options)) {}
  Stream* find(int32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : it->second.get();
  }
  nghttp2_data_provider providerFor(Stream& st) const {
    st.no_copy = no_copy;
    nghttp2_data_provider provider{};
    provider.source.ptr = static_cast<DataSource*>(&st);
    provider.read_callback = &TestConnection::provide;
    return provider;
  }
  static ssize_t provide(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                         nghttp2_data_source* source, void*) {
    auto* st = static_cast<Stream*>(static_cast<DataSource*>(source->ptr));
    size_t n = std::min(length, st->out.size() - st->sent);
    if (st->no_copy && n > 0) {
      *flags |= NGHTTP2_DATA_FLAG_NO_COPY;  // copyData() advances `sent`
    } else {
      std::memcpy(buf, st->out.data() + st->sent, n);
      st->sent += n;
    }
    if (st->sent + (st->no_copy ? n : 0) < st->out.size()) return static_cast<ssize_t>(n);
    if (st->out_done) {
      *flags |= NGHTTP2_DATA_FLAG_EOF;
      return static_cast<ssize_t>(n);
    }
    if (n > 0) return static_cast<ssize_t>(n);
    st->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }

  std::map<int32_t, std::shared_ptr<Stream>> streams_;  // open streams
  std::map<int32_t, size_t> consumed_;
};

}  // namespace ambit::http2::testing
