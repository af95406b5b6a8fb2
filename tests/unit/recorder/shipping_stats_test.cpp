// What the recording service reports for the metrics, through the real service, spool files
// and shipper thread: bytes before and after compression, and while the store is away a
// growing lag and a backlog of spool files, both gone once the store is back.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include "recorder/reader.h"
#include "recorder/service.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::recorder {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Holds each recording as the bytes of its spool file that a save covered, so that the
// shipper's check (what the store returns equals the spool) passes; or is away.
class SwitchableStore final : public RecordingStore {
 public:
  explicit SwitchableStore(std::filesystem::path spool_dir) : spool_dir_(std::move(spool_dir)) {}
  std::atomic<bool> away{false};

  // RecordingStore
  void connect() override {
    if (away) throw RecordingError("the store is away");
  }
  void save(const Update& update) override {
    connect();
    const std::int64_t id = update.recording.header.session_id;
    std::ifstream in(spool_dir_ / (std::to_string(id) + ".pcr"), std::ios::binary);
    std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    bytes.resize(std::min(bytes.size(), update.recording.valid_bytes));
    std::lock_guard<std::mutex> lock(mutex_);
    stored_[id] = std::move(bytes);
  }
  std::vector<LiveResult> save_live(const std::vector<LiveUpdate>& updates) override {
    connect();
    return std::vector<LiveResult>(updates.size(), LiveResult::stored);
  }
  std::string load(std::int64_t session_id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto found = stored_.find(session_id);
    if (found == stored_.end()) throw RecordingError("nothing stored");
    return found->second;
  }

 private:
  const std::filesystem::path spool_dir_;
  std::mutex mutex_;
  std::map<std::int64_t, std::string> stored_;
};

class ShippingStats : public ::testing::Test {
 protected:
  ShippingStats() {
    config.spool_dir = dir.path();
    config.signing_key = test::write_signing_key_file(dir);
  }

  // Runs the loop until `condition` holds or `timeout` passes.
  template <typename Condition>
  bool run_until(boost::asio::io_context& loop, Condition condition,
                 std::chrono::milliseconds timeout) {
    const auto until = Clock::now() + timeout;
    while (!condition()) {
      if (Clock::now() >= until) return false;
      loop.run_for(20ms);
    }
    return true;
  }

  test::TempDir dir;
  RecordingConfig config;
};

TEST_F(ShippingStats, LagAndBacklogGrowWhileTheStoreIsAwayAndClearOnceItIsBack) {
  auto owned = std::make_unique<SwitchableStore>(dir.path());
  SwitchableStore& store = *owned;
  store.away = true;
  boost::asio::io_context loop;
  const auto keep_running = boost::asio::make_work_guard(loop);
  RecordingService service(config, std::move(owned));
  service.start_shipping();
  const auto started = Clock::now();

  auto recording = service.record(loop, test::sample_header(11), true, nullptr, nullptr);
  loop.run_for(50ms);  // the spool file is created on the pool
  const std::string line(100, 'x');
  for (int i = 0; i < 200; ++i) recording->data(EventKind::output, line + "\r\n");
  recording->finish("client_exit");

  // Written and compressed (a repeated line compresses well), but not stored anywhere.
  ASSERT_TRUE(run_until(
      loop, [&] { return service.stats().shipping.backlog_files == 1; }, 10s));
  RecordingStats stats = service.stats();
  EXPECT_GE(stats.raw_bytes, 200u * 102u);
  EXPECT_GT(stats.stored_bytes, 0u);
  EXPECT_LT(stats.stored_bytes, stats.raw_bytes / 10);
  EXPECT_GT(stats.shipping.backlog_bytes, stats.stored_bytes);  // header, chunks, trailer
  // Nothing was stored since the start: the lag is the whole time the store has been away.
  loop.run_for(500ms);
  stats = service.stats();
  EXPECT_GE(stats.shipping.lag, Clock::now() - started - 100ms);

  store.away = false;
  ASSERT_TRUE(run_until(
      loop, [&] { return service.stats().shipping.backlog_files == 0; }, 10s));
  stats = service.stats();
  EXPECT_EQ(stats.shipping.backlog_bytes, 0u);
  EXPECT_LT(stats.shipping.lag, 2500ms);  // a pass every 2 s at most, when healthy
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "11.pcr")) << "shipped, so removed";
}

}  // namespace
}  // namespace portcullis::recorder
