// Live shipping's queue (recorder/live_queue.h): bounded in bytes, falling back to the spool
// file when a session's chunks cannot be kept or stored.
#include "recorder/live_queue.h"

#include <gtest/gtest.h>

#include "tests/support/recording_builder.h"

namespace portcullis::recorder {
namespace {

Chunk chunk(std::uint64_t seq, std::size_t bytes = 100) {
  Chunk c;
  c.seq = seq;
  c.record.assign(bytes, 'x');
  return c;
}

std::vector<Chunk> chunks(std::uint64_t from, std::uint64_t to, std::size_t bytes = 100) {
  std::vector<Chunk> out;
  for (std::uint64_t seq = from; seq < to; ++seq) out.push_back(chunk(seq, bytes));
  return out;
}

std::vector<std::uint64_t> seqs(const RecordingStore::LiveUpdate& update) {
  std::vector<std::uint64_t> out;
  for (const Chunk& c : update.chunks) out.push_back(c.seq);
  return out;
}

class LiveQueueTest : public ::testing::Test {
 protected:
  void open(std::int64_t session_id) {
    queue.opened(session_id,
                 std::make_shared<const RecordingStore::SpoolHeader>(
                     RecordingStore::SpoolHeader{test::sample_header(session_id), "h"}));
  }
  int wakes = 0;
  LiveQueue queue{1000, [this] { ++wakes; }};
};

// Chunks come out in order, per session, once; the queue is then empty.
TEST_F(LiveQueueTest, TakesWhatWasAddedInOrder) {
  open(1);
  open(2);
  queue.add(1, chunks(0, 2));
  queue.add(1, chunks(2, 3));
  queue.add(2, chunks(0, 1));
  EXPECT_EQ(queue.queued_bytes(), 400u);
  LiveQueue::Pass pass = queue.take();
  ASSERT_EQ(pass.updates.size(), 2u);
  for (const RecordingStore::LiveUpdate& update : pass.updates) {
    ASSERT_NE(update.header, nullptr);
    EXPECT_EQ(update.header->header.session_id, update.session_id);
    const std::vector<std::uint64_t> expected = update.session_id == 1
                                                    ? std::vector<std::uint64_t>{0, 1, 2}
                                                    : std::vector<std::uint64_t>{0};
    EXPECT_EQ(seqs(update), expected);
  }
  EXPECT_TRUE(pass.behind.empty());
  EXPECT_EQ(queue.queued_bytes(), 0u);
  EXPECT_TRUE(queue.take().updates.empty());
}

// Chunks of a session that was never opened (or is closed) are not kept.
TEST_F(LiveQueueTest, IgnoresSessionsNotOpen) {
  queue.add(7, chunks(0, 1));
  open(8);
  queue.add(8, chunks(0, 1));
  queue.closed(8);
  EXPECT_EQ(queue.queued_bytes(), 0u);
  EXPECT_TRUE(queue.take().updates.empty());
}

// Past the byte limit the new chunks are dropped and the session is behind: the next pass
// catches it up from its spool file, and later chunks are queued again.
TEST_F(LiveQueueTest, PastTheLimitTheSessionFallsBehind) {
  open(1);
  queue.add(1, chunks(0, 9));   // 900 bytes
  queue.add(1, chunks(9, 11));  // 200 more: over 1000
  EXPECT_EQ(queue.queued_bytes(), 900u);
  queue.add(1, chunks(11, 12));  // behind: a gap would follow, dropped too
  EXPECT_EQ(queue.queued_bytes(), 900u);

  LiveQueue::Pass pass = queue.take();
  EXPECT_EQ(pass.behind, std::vector<std::int64_t>{1});
  ASSERT_EQ(pass.updates.size(), 1u);
  EXPECT_EQ(pass.updates[0].chunks.size(), 9u);
  queue.add(1, chunks(12, 13));
  EXPECT_EQ(queue.queued_bytes(), 100u);
  EXPECT_TRUE(queue.take().behind.empty()) << "caught up once";
}

// A session whose chunks the store could not take drops what it has queued.
TEST_F(LiveQueueTest, FallingBehindDropsWhatIsQueued) {
  open(1);
  queue.add(1, chunks(0, 3));
  queue.fell_behind(1);
  EXPECT_EQ(queue.queued_bytes(), 0u);
  const LiveQueue::Pass pass = queue.take();
  EXPECT_TRUE(pass.updates.empty());
  EXPECT_EQ(pass.behind, std::vector<std::int64_t>{1});
}

// A recording the store will not take live is left to the end-of-session ship.
TEST_F(LiveQueueTest, StoppedSessionsAreLeftToTheFinalShip) {
  open(1);
  queue.add(1, chunks(0, 1));
  queue.stop_shipping(1);
  queue.add(1, chunks(1, 2));
  queue.fell_behind(1);
  const LiveQueue::Pass pass = queue.take();
  EXPECT_TRUE(pass.updates.empty());
  EXPECT_TRUE(pass.behind.empty());
  EXPECT_EQ(queue.queued_bytes(), 0u);
}

// Only a watched session's chunks wake the shipper, and the update says it is watched.
TEST_F(LiveQueueTest, WatchedSessionsWakeTheShipper) {
  queue.set_watched(1, true);  // before its spool file exists: the flag waits
  open(1);
  open(2);
  queue.add(2, chunks(0, 1));
  EXPECT_EQ(wakes, 0);
  queue.add(1, chunks(0, 1));
  EXPECT_EQ(wakes, 1);
  for (const RecordingStore::LiveUpdate& update : queue.take().updates) {
    EXPECT_EQ(update.watched, update.session_id == 1);
  }
  queue.set_watched(1, false);
  queue.add(1, chunks(1, 2));
  EXPECT_EQ(wakes, 1);
}

}  // namespace
}  // namespace portcullis::recorder
