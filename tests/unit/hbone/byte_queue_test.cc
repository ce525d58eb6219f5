// ByteQueue: the per-stream buffer both splice directions read in place. Small appends share a
// block (one gathered write, not one per DATA chunk), bytes come out in order across blocks,
// reads straight into the tail (prepare/commit) queue exactly what was read, and a drained
// queue holds no memory.
#include "common/hbone/byte_queue.h"

#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

namespace ambit::hbone::detail {
namespace {

std::string gathered(const ByteQueue& q) {
  std::array<asio::const_buffer, 64> bufs;
  const size_t n = q.gather(bufs);
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out.append(static_cast<const char*>(bufs[i].data()), bufs[i].size());
  }
  return out;
}

void append(ByteQueue& q, const std::string& s) {
  q.append(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

TEST(ByteQueueTest, ManySmallChunksLeaveAsFewBuffers) {
  ByteQueue q;
  std::string all;
  for (int i = 0; i < 500; ++i) {
    const std::string chunk = "chunk " + std::to_string(i) + ";";
    append(q, chunk);
    all += chunk;
  }
  std::array<asio::const_buffer, 64> bufs;
  const size_t n = q.gather(bufs);
  EXPECT_LE(n, 4u) << "500 appends of ~10 bytes should share blocks";
  EXPECT_EQ(q.size(), all.size());
  EXPECT_EQ(gathered(q), all);
}

TEST(ByteQueueTest, DropAcrossBlocksKeepsOrder) {
  ByteQueue q;
  std::string all;
  for (int i = 0; i < 40; ++i) {
    std::string chunk(3000 + i, static_cast<char>('a' + i % 26));
    append(q, chunk);
    all += chunk;
  }
  size_t dropped = 0;
  for (size_t step : {1u, 4095u, 70000u, 12345u}) {
    q.drop(step);
    dropped += step;
    EXPECT_EQ(gathered(q).substr(0, 100), all.substr(dropped, 100));
    EXPECT_EQ(q.size(), all.size() - dropped);
  }
  std::string rest(q.size(), '\0');
  EXPECT_EQ(q.pop({reinterpret_cast<uint8_t*>(rest.data()), rest.size()}), rest.size());
  EXPECT_EQ(rest, all.substr(dropped));
  EXPECT_TRUE(q.empty());
}

TEST(ByteQueueTest, GatherStopsAtTheBufferLimitInOrder) {
  ByteQueue q;
  for (int i = 0; i < 10; ++i) append(q, std::string(ByteQueue::kMaxBlock, static_cast<char>(i)));
  std::array<asio::const_buffer, 3> bufs;
  ASSERT_EQ(q.gather(bufs), 3u);
  size_t total = 0;
  for (const auto& b : bufs) total += b.size();
  EXPECT_GE(total, 2 * ByteQueue::kMaxBlock);
  EXPECT_EQ(*static_cast<const char*>(bufs[0].data()), 0);
}

TEST(ByteQueueTest, PrepareAndCommitQueueWhatWasRead) {
  ByteQueue q;
  append(q, "head:");
  asio::mutable_buffer room = q.prepare(2048, 2048);
  ASSERT_GE(room.size(), 1u);
  ASSERT_LE(room.size(), 2048u);
  std::memcpy(room.data(), "body", 4);
  q.commit(4);
  EXPECT_EQ(gathered(q), "head:body");

  room = q.prepare(ByteQueue::kMaxBlock, ByteQueue::kMaxBlock);
  EXPECT_EQ(room.size(), ByteQueue::kMaxBlock) << "a large read gets a block of its own";
  q.commit(0);  // the read found nothing: nothing queued, the fresh block released
  EXPECT_EQ(gathered(q), "head:body");
  EXPECT_LT(q.capacity(), ByteQueue::kMaxBlock);
}

// prepareAppend() fills the tail block's free room first, like append(); a full tail gets a new
// block sized for what is asked.
TEST(ByteQueueTest, PrepareAppendFillsTheTailBlockFirst) {
  ByteQueue q;
  append(q, "x");  // a small block with room left
  const size_t tail_room = ByteQueue::kMinBlock - 1;
  asio::mutable_buffer room = q.prepareAppend(3000);
  ASSERT_EQ(room.size(), tail_room) << "the tail's free room, not a new block";
  std::memset(room.data(), 'a', room.size());
  q.commit(room.size());
  EXPECT_EQ(q.capacity(), ByteQueue::kMinBlock);
  room = q.prepareAppend(3000);
  ASSERT_EQ(room.size(), 3000u) << "a full tail: a new block with room for all of it";
  std::memset(room.data(), 'b', room.size());
  q.commit(room.size());
  EXPECT_EQ(gathered(q), "x" + std::string(tail_room, 'a') + std::string(3000, 'b'));
  q.drop(q.size());
  EXPECT_EQ(q.capacity(), 0u);
}

TEST(ByteQueueTest, DrainedQueueHoldsNoMemory) {
  ByteQueue q;
  for (int i = 0; i < 100; ++i) append(q, std::string(20000, 'x'));
  EXPECT_GE(q.capacity(), q.size());
  q.drop(q.size());
  EXPECT_EQ(q.capacity(), 0u);
  asio::mutable_buffer room = q.prepare(64, 64);
  ASSERT_EQ(room.size(), 64u);
  q.commit(0);
  EXPECT_EQ(q.capacity(), 0u) << "an empty read must not leave a block behind";
}

TEST(ByteQueueTest, BlocksGrowWithTheAmountQueued) {
  ByteQueue q;
  append(q, "x");
  EXPECT_EQ(q.capacity(), ByteQueue::kMinBlock) << "a trickle gets a small block";
  for (int i = 0; i < 64; ++i) append(q, std::string(8192, 'y'));
  std::array<asio::const_buffer, 64> bufs;
  EXPECT_LE(q.gather(bufs), 16u) << "bulk data should land in large blocks";
}

TEST(ByteQueueTest, ReleasingTheCacheReportsTheBytesFreed) {
  ByteQueue::releaseCachedBlocks();  // whatever earlier tests on this thread left
  size_t held = 0;
  {
    ByteQueue q;
    const std::string chunk(16u << 10, 'x');  // bulk data: it grows into 64 KiB blocks
    for (int i = 0; i < 20; ++i) append(q, chunk);
    held = q.capacity();
    ASSERT_GE(held, 20 * chunk.size());
  }  // the queue's blocks go to this thread's cache
  const size_t released = ByteQueue::releaseCachedBlocks();
  EXPECT_EQ(released, held) << "every block of the queue fits the cache (powers of two, < 8 each)";
  EXPECT_EQ(ByteQueue::releaseCachedBlocks(), 0u) << "a second release finds the cache empty";
}

// A burst of requests holds many small blocks at once (one per stream and direction); when
// they drain together, all of them wait for the next burst in the cache instead of going back
// to malloc (2 KiB blocks are past glibc's per-thread cache).
TEST(ByteQueueTest, ABurstsSmallBlocksAllComeBackToTheCache) {
  ByteQueue::releaseCachedBlocks();
  constexpr size_t kStreams = 32;
  {
    std::vector<ByteQueue> queues(kStreams);
    for (ByteQueue& q : queues) {
      append(q, std::string(1500, 'r'));  // a request: one 2 KiB block
      ASSERT_EQ(q.capacity(), 2u << 10);
    }
  }
  EXPECT_EQ(ByteQueue::releaseCachedBlocks(), kStreams * (2u << 10));
}

}  // namespace
}  // namespace ambit::hbone::detail
