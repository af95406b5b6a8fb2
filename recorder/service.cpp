// The daemon's recording service: the spool I/O pool, syncfs batching and the shipper.
#include "recorder/service.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

namespace portcullis::recorder {
namespace {

SigningKey load_key(const RecordingConfig& config) {
  try {
    return SigningKey::load(config.signing_key);
  } catch (const RecordingError& e) {
    throw std::runtime_error(std::string(e.what()) + "; run `portcullis init` to create it");
  }
}

}  // namespace

RecordingService::RecordingService(const RecordingConfig& config,
                                   std::unique_ptr<RecordingStore> store)
    : config_(config),
      key_(load_key(config)),
      sync_strand_(boost::asio::make_strand(io_.get_executor())),
      sync_timer_(sync_strand_),
      shipper_(config.spool_dir, std::move(store), key_.public_key(),
               config.compact ? std::optional(ArchiveOptions{.level = config.compact_level})
                              : std::nullopt) {
  if (config.sync != SpoolSync::filesystem) return;
  spool_fd_.reset(::open(config.spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!spool_fd_) {
    spdlog::warn(
        "cannot open the spool folder {} for syncfs ({}); every recording syncs its own "
        "file instead",
        config.spool_dir.string(), std::strerror(errno));
    return;
  }
  spdlog::info("recordings in {} are made durable together, one syncfs at a time",
               config.spool_dir.string());
}

RecordingStats RecordingService::stats() const {
  return RecordingStats{raw_bytes_.load(std::memory_order_relaxed),
                        stored_bytes_.load(std::memory_order_relaxed), shipper_.stats()};
}

RecordingService::~RecordingService() {
  io_.join();
  shipper_.stop();
}

void RecordingService::start_shipping() { shipper_.start(); }

std::shared_ptr<SessionRecording> RecordingService::record(boost::asio::io_context& loop,
                                                           Header header, bool record_input,
                                                           SessionRecording::Failure on_failure,
                                                           std::function<void()> on_drained) {
  shipper_.writing(header.session_id);
  auto recording = std::make_shared<SessionRecording>(*this, loop, std::move(header), record_input,
                                                      std::move(on_failure), std::move(on_drained));
  recording->start();
  return recording;
}

void RecordingService::finished(std::int64_t session_id) { shipper_.written(session_id); }

void RecordingService::sync_later(std::weak_ptr<SessionRecording> recording) {
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(unsynced_mutex_);
    unsynced_.push_back(std::move(recording));
    schedule = !std::exchange(sync_scheduled_, true);
  }
  if (schedule) boost::asio::post(sync_strand_, [this] { schedule_filesystem_sync(); });
}

void RecordingService::schedule_filesystem_sync() {
  const auto due = last_sync_ + kSyncInterval;
  if (std::chrono::steady_clock::now() >= due) return sync_filesystem();
  sync_timer_.expires_at(due);
  sync_timer_.async_wait([this](boost::system::error_code) { sync_filesystem(); });
}

// One syncfs makes the writes of every session since the last one durable: a thousand quiet
// sessions cost one sync a batch instead of one each. Its error cannot say whose data was lost,
// so then every session of the batch syncs its own file and learns its own fate.
void RecordingService::sync_filesystem() {
  last_sync_ = std::chrono::steady_clock::now();
  std::vector<std::weak_ptr<SessionRecording>> batch;
  {
    std::lock_guard<std::mutex> lock(unsynced_mutex_);
    batch.swap(unsynced_);
    sync_scheduled_ = false;
  }
  // The chunks written before the syncfs starts: only those are surely durable after it.
  std::vector<std::pair<std::shared_ptr<SessionRecording>, std::vector<Chunk>>> written;
  for (const std::weak_ptr<SessionRecording>& weak : batch) {
    if (auto recording = weak.lock()) written.emplace_back(recording, recording->take_unsynced());
  }
  if (batch.empty()) return;
  if (spool_fd_ && ::syncfs(spool_fd_.get()) == 0) {
    for (auto& [recording, chunks] : written) recording->ship_live(std::move(chunks));
    return;
  }
  if (spool_fd_) {
    spdlog::warn("syncfs of the spool folder failed: {}; each recording syncs its own file",
                 std::strerror(errno));
  }
  for (auto& [recording, chunks] : written) recording->sync_alone(std::move(chunks));
}

}  // namespace portcullis::recorder
