// A watched session's chunks reach the store within a few hundred milliseconds (cut every
// 100 ms, shipped at once), through the real recording service and shipper thread, with a
// store that only notes when it was given each chunk.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <mutex>

#include "recorder/service.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::recorder {
namespace {

using Clock = std::chrono::steady_clock;

// Notes when each live chunk arrives; everything else is accepted and forgotten.
class TimingStore final : public RecordingStore {
 public:
  // RecordingStore
  void connect() override {}
  void save(const Update&) override {}
  std::string load(std::int64_t session_id) override {
    throw RecordingError("nothing stored for session " + std::to_string(session_id));
  }
  std::vector<LiveResult> save_live(const std::vector<LiveUpdate>& updates) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const LiveUpdate& update : updates) {
      if (!update.chunks.empty()) first_chunk_at_ = first_chunk_at_.value_or(Clock::now());
    }
    return std::vector<LiveResult>(updates.size(), LiveResult::stored);
  }

  std::optional<Clock::time_point> first_chunk_at() {
    std::lock_guard<std::mutex> lock(mutex_);
    return first_chunk_at_;
  }

 private:
  std::mutex mutex_;
  std::optional<Clock::time_point> first_chunk_at_;
};

class WatchedRecording : public ::testing::Test {
 protected:
  WatchedRecording() {
    config.spool_dir = dir.path();
    config.signing_key = test::write_signing_key_file(dir);
  }

  // How long after its first output the store is given the session's first chunk.
  std::chrono::milliseconds first_chunk_lag(bool watched) {
    auto owned = std::make_unique<TimingStore>();
    TimingStore& store = *owned;
    boost::asio::io_context loop;
    const auto keep_running = boost::asio::make_work_guard(loop);  // run_for waits its time
    RecordingService service(config, std::move(owned));
    service.start_shipping();
    // A session id of its own: the store keeps nothing, so the spool files stay.
    auto recording = service.record(loop, test::sample_header(watched ? 1 : 2), true, nullptr, nullptr);
    if (watched) recording->set_watched(true);
    loop.run_for(std::chrono::milliseconds(50));  // the spool file is created on the pool
    const Clock::time_point output_at = Clock::now();
    recording->data(EventKind::output, "$ ls\r\n");
    while (!store.first_chunk_at() && Clock::now() - output_at < std::chrono::seconds(5)) {
      loop.run_for(std::chrono::milliseconds(10));
    }
    recording->finish("client_exit");
    loop.run_for(std::chrono::milliseconds(50));
    const auto stored_at = store.first_chunk_at().value_or(Clock::now());
    return std::chrono::duration_cast<std::chrono::milliseconds>(stored_at - output_at);
  }

  test::TempDir dir;
  RecordingConfig config;
};

// Unwatched, a chunk is cut a second after its first event; watched, after 100 ms, and the
// shipper stores it at once. 600 ms leaves room for a loaded machine and stays well below the
// unwatched second.
TEST_F(WatchedRecording, ChunksReachTheStoreWithinAFewHundredMilliseconds) {
  const std::chrono::milliseconds watched = first_chunk_lag(true);
  EXPECT_LT(watched.count(), 600) << "watched";
  const std::chrono::milliseconds unwatched = first_chunk_lag(false);
  EXPECT_GE(unwatched.count(), 1000) << "unwatched";
  std::cerr << "first chunk stored " << watched.count() << " ms after the output (watched), "
            << unwatched.count() << " ms (unwatched)\n";
}

}  // namespace
}  // namespace portcullis::recorder
