#pragma once
// HeaderBlockTracker: follows the frame boundaries of the HTTP/2 bytes a connection receives and
// says whether a header block is in progress, i.e. a HEADERS or PUSH_PROMISE frame has begun and
// the frame that carries END_HEADERS (it or a CONTINUATION) has not been received in full. The
// connection uses it for its header timeout (slowloris: a block begun and never finished keeps
// a request half-open). It reads only the 9-byte frame headers; nghttp2 still validates
// everything, so on input nghttp2 rejects the answer does not matter (the connection ends).

#include <cstddef>
#include <cstdint>

namespace ambit::http2 {

class HeaderBlockTracker {
 public:
  // `preface_bytes`: bytes before the first frame (the server reads the 24-byte client magic).
  explicit HeaderBlockTracker(size_t preface_bytes) : skip_(preface_bytes) {}

  void feed(const uint8_t* data, size_t len) {
    while (len > 0) {
      if (skip_ > 0) {
        const size_t n = len < skip_ ? len : skip_;
        skip_ -= n, data += n, len -= n;
      } else if (header_len_ < kFrameHeader) {
        header_[header_len_++] = *data++, --len;
        if (header_len_ == kFrameHeader) beginFrame();
      } else {
        const size_t n = len < payload_left_ ? len : payload_left_;
        payload_left_ -= n, data += n, len -= n;
        if (payload_left_ == 0) endFrame();
      }
    }
  }

  bool inProgress() const { return in_block_frame_ || block_continues_; }

 private:
  static constexpr size_t kFrameHeader = 9;
  static constexpr uint8_t kHeaders = 0x1, kPushPromise = 0x5, kContinuation = 0x9;
  static constexpr uint8_t kEndHeaders = 0x4;

  void beginFrame() {
    payload_left_ = (size_t{header_[0]} << 16) | (size_t{header_[1]} << 8) | header_[2];
    const uint8_t type = header_[3];
    in_block_frame_ = type == kHeaders || type == kPushPromise || type == kContinuation;
    if (!in_block_frame_) block_continues_ = false;
    if (payload_left_ == 0) endFrame();
  }

  void endFrame() {
    if (in_block_frame_) block_continues_ = (header_[4] & kEndHeaders) == 0;
    in_block_frame_ = false;
    header_len_ = 0;
  }

  size_t skip_;
  uint8_t header_[kFrameHeader] = {};
  size_t header_len_ = 0;
  size_t payload_left_ = 0;
  bool in_block_frame_ = false;   // the frame being received belongs to a header block
  bool block_continues_ = false;  // the last header-block frame had no END_HEADERS
};

}  // namespace ambit::http2
