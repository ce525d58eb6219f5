#include "common/hbone/byte_queue.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace ambit::hbone::detail {
namespace {

// Freed blocks of the power-of-two sizes kMinBlock..kMaxBlock wait here for the next queue on
// the same thread that needs one: a busy data path reuses its blocks instead of going through
// malloc for every burst, while idle queues hold nothing (the cache is per thread, bounded).
// Each size keeps 8 blocks, the small ones up to 64 KiB's worth: a burst of 16 requests holds
// ~16 small blocks at once per direction (with 8 of 2 KiB, 0.55 blocks per request still went
// to malloc, and those sizes are past glibc's per-thread cache: BENCHMARKS.md, session 24).
class BlockCache {
 public:
  static constexpr size_t kClasses =
      std::countr_zero(ByteQueue::kMaxBlock / ByteQueue::kMinBlock) + 1;
  static constexpr size_t kMinPerClass = 8;
  static constexpr size_t kSmallClassBytes = 64u << 10;
  static constexpr size_t perClass(size_t c) {
    return std::max(kMinPerClass, kSmallClassBytes / (ByteQueue::kMinBlock << c));
  }

  static std::unique_ptr<uint8_t[]> take(size_t capacity) {
    if (auto c = classOf(capacity); c < kClasses && !free_[c].empty()) {
      auto block = std::move(free_[c].back());
      free_[c].pop_back();
      return block;
    }
    return std::make_unique_for_overwrite<uint8_t[]>(capacity);
  }
  static size_t clear() {
    size_t bytes = 0;
    for (size_t c = 0; c < kClasses; ++c) {
      bytes += free_[c].size() * (ByteQueue::kMinBlock << c);
      free_[c].clear();
      free_[c].shrink_to_fit();
    }
    return bytes;
  }
  static void giveBack(std::unique_ptr<uint8_t[]> block, size_t capacity) {
    if (auto c = classOf(capacity); c < kClasses && free_[c].size() < perClass(c)) {
      free_[c].push_back(std::move(block));
    }
  }

 private:
  // kClasses for a size that is not one of the cached powers of two.
  static size_t classOf(size_t capacity) {
    if (!std::has_single_bit(capacity) || capacity < ByteQueue::kMinBlock) return kClasses;
    return static_cast<size_t>(std::countr_zero(capacity / ByteQueue::kMinBlock));
  }
  static thread_local std::array<std::vector<std::unique_ptr<uint8_t[]>>, kClasses> free_;
};

thread_local std::array<std::vector<std::unique_ptr<uint8_t[]>>, BlockCache::kClasses>
    BlockCache::free_;

}  // namespace

size_t ByteQueue::releaseCachedBlocks() { return BlockCache::clear(); }

ByteQueue::Block::~Block() {
  if (data) BlockCache::giveBack(std::move(data), capacity);
}

ByteQueue::Block& ByteQueue::grow(size_t want) {
  // Bulk transfers (much queued) get large blocks, a trickle small ones; sizes up to kMaxBlock
  // are powers of two, so that freed blocks fit the next request.
  const size_t policy = std::clamp(std::bit_ceil(size_ + want), kMinBlock, kMaxBlock);
  Block block;
  block.capacity = want <= policy ? policy : want;
  block.data = BlockCache::take(block.capacity);
  blocks_.push_back(std::move(block));
  return blocks_.back();
}

void ByteQueue::append(const uint8_t* data, size_t n) {
  while (n > 0) {
    Block* tail = blocks_.empty() ? nullptr : &blocks_.back();
    if (tail == nullptr || tail->end == tail->capacity) tail = &grow(n);
    const size_t take = std::min(n, tail->capacity - tail->end);
    std::memcpy(tail->data.get() + tail->end, data, take);
    tail->end += take;
    size_ += take;
    data += take;
    n -= take;
  }
}

asio::mutable_buffer ByteQueue::prepare(size_t min, size_t max) {
  min = std::clamp<size_t>(min, 1, std::max<size_t>(max, 1));
  Block* tail = blocks_.empty() ? nullptr : &blocks_.back();
  if (tail == nullptr || tail->capacity - tail->end < min) tail = &grow(min);
  return asio::mutable_buffer(tail->data.get() + tail->end,
                              std::min(max, tail->capacity - tail->end));
}

asio::mutable_buffer ByteQueue::prepareAppend(size_t max) {
  Block* tail = blocks_.empty() ? nullptr : &blocks_.back();
  if (tail == nullptr || tail->end == tail->capacity) tail = &grow(max);
  return asio::mutable_buffer(tail->data.get() + tail->end,
                              std::min(max, tail->capacity - tail->end));
}

void ByteQueue::commit(size_t n) {
  if (blocks_.empty()) return;
  Block& tail = blocks_.back();
  n = std::min(n, tail.capacity - tail.end);
  tail.end += n;
  size_ += n;
  if (tail.begin == tail.end) {  // a fresh block nothing was read into
    blocks_.pop_back();          // the destructor caches the memory
    if (blocks_.empty()) releaseBlocks();
  }
}

size_t ByteQueue::pop(std::span<uint8_t> out) {
  size_t copied = 0;
  while (copied < out.size() && !blocks_.empty()) {
    const Block& front = blocks_.front();
    const size_t n = std::min(out.size() - copied, front.end - front.begin);
    std::memcpy(out.data() + copied, front.data.get() + front.begin, n);
    copied += n;
    drop(n);
  }
  return copied;
}

void ByteQueue::drop(size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0) {
    Block& front = blocks_.front();
    const size_t take = std::min(n, front.end - front.begin);
    front.begin += take;
    n -= take;
    if (front.begin == front.end) popFront();
  }
}

size_t ByteQueue::gather(std::span<asio::const_buffer> out) const {
  size_t filled = 0;
  for (const Block& b : blocks_) {
    if (filled == out.size()) break;
    if (b.begin == b.end) continue;
    out[filled++] = asio::const_buffer(b.data.get() + b.begin, b.end - b.begin);
  }
  return filled;
}

void ByteQueue::popFront() {
  Block drained = std::move(blocks_.front());  // its destructor caches the memory
  blocks_.erase(blocks_.begin());
  if (blocks_.empty()) releaseBlocks();
}

void ByteQueue::releaseBlocks() {
  // Back to the inline slot. small_vector's shrink_to_fit and assignment both keep or drop the
  // heap array without going back to inline storage, so the list is made anew.
  std::destroy_at(&blocks_);
  std::construct_at(&blocks_);
}

void ByteQueue::clear() {
  releaseBlocks();
  size_ = 0;
}

size_t ByteQueue::capacity() const {
  size_t total = 0;
  for (const Block& b : blocks_) total += b.capacity;
  return total;
}

}  // namespace ambit::hbone::detail
