#pragma once
// ByteQueue: a FIFO of bytes kept in a few heap blocks, read in place.
//
// Writers append (a copy) or read straight into the tail (prepare() + commit()); readers see
// the queued bytes as up to N buffers (gather()) or copy them out (pop()), and drop() them once
// used. Appends fill the tail block before allocating another, so a run of small DATA chunks
// lands in one block and leaves as one buffer. Blocks start small (kMinBlock) and grow with the
// amount queued up to kMaxBlock; a block is released as soon as its last byte is dropped (to a
// small per-thread cache of free blocks, which the next burst on that thread reuses instead of
// calling malloc), so an idle stream's queue holds no memory at all.
//
// Pointers from gather() stay valid until those bytes are dropped (appends and prepare() never
// move queued bytes). Not thread-safe: one executor, like the stream that owns it.

#include <boost/asio/buffer.hpp>
#include <boost/container/small_vector.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace ambit::hbone::detail {

namespace asio = boost::asio;

class ByteQueue {
 public:
  static constexpr size_t kMinBlock = 1u << 10;
  static constexpr size_t kMaxBlock = 64u << 10;
  // Frees the blocks this thread keeps for reuse (8 of each size, up to 64 of the smallest;
  // ~1.2 MB after a bulk transfer). A daemon calls it now and then on its data thread so a burst's
  // buffers do not stay resident for good (the next burst refills the cache). Returns the bytes
  // freed.
  static size_t releaseCachedBlocks();

  void append(const uint8_t* data, size_t n);
  // Room for 1 to `max` bytes at the tail, to fill and then commit(); at least `min` bytes (at
  // most `max`) unless the tail block already has that much free. Valid until the next call
  // that changes the queue.
  asio::mutable_buffer prepare(size_t min, size_t max);
  // Room for 1 to `max` bytes as append() would use it: what is free in the tail block, else a
  // new block sized for `max`. Valid until the next call that changes the queue.
  asio::mutable_buffer prepareAppend(size_t max);
  // The first `n` bytes of the last prepare() or prepareAppend() are queued; the rest is
  // released.
  void commit(size_t n);
  // Copies and removes up to out.size() bytes; returns how many.
  size_t pop(std::span<uint8_t> out);
  void drop(size_t n);
  // Fills `out` with views of the first queued bytes in order, at most one per block; returns
  // how many buffers it filled (0 when empty).
  size_t gather(std::span<asio::const_buffer> out) const;
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  void clear();
  // Heap bytes held (blocks' capacity), for tests.
  size_t capacity() const;

 private:
  struct Block {
    Block() = default;
    Block(Block&&) noexcept = default;
    Block& operator=(Block&&) noexcept = default;
    ~Block();  // the memory goes back to a per-thread cache of free blocks
    std::unique_ptr<uint8_t[]> data;
    size_t capacity = 0;
    size_t begin = 0;  // first queued byte
    size_t end = 0;    // one past the last queued byte
  };
  // A queue mostly holds one block at a time: that one lives inline, so filling and draining
  // it costs no allocation for the list itself.
  using Blocks = boost::container::small_vector<Block, 1>;
  Block& grow(size_t want);
  void popFront();
  void releaseBlocks();

  Blocks blocks_;  // released (a heap array too) whenever the queue becomes empty
  size_t size_ = 0;
};

}  // namespace ambit::hbone::detail
