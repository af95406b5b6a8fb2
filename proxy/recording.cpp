#include "proxy/recording.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace portcullis::proxy {
namespace {

namespace fs = std::filesystem;

// A chunk is cut this long after its first event, if it has not filled up before.
constexpr std::chrono::seconds kChunkAge{1};
// Syncs are at least this far apart: a bulk transfer cuts thousands of chunks a second, and one
// fdatasync then covers every chunk of the interval instead of one each.
constexpr std::chrono::milliseconds kSyncInterval{20};
// The shipper looks for finished spool files this often (and at once when a session ends).
constexpr std::chrono::seconds kShipInterval{2};
// Written chunks whose bytes a streaming session reuses: one being filled, one being written.
constexpr std::size_t kSpareChunks = 2;

recorder::EventKind kind_of(Stream stream) {
  switch (stream) {
    case Stream::output:
      return recorder::EventKind::output;
    case Stream::error_output:
      return recorder::EventKind::error_output;
    case Stream::input:
      return recorder::EventKind::input;
  }
  return recorder::EventKind::output;
}

recorder::SigningKey load_key(const Config& config) {
  try {
    return recorder::SigningKey::load(config.recording.signing_key);
  } catch (const recorder::RecordingError& e) {
    throw std::runtime_error(std::string(e.what()) + "; run `portcullis init` to create it");
  }
}

}  // namespace

// ---------------------------------------------------------------- one session

SessionRecording::SessionRecording(RecordingService& service, recorder::Header header,
                                   bool record_input, Failure on_failure,
                                   std::function<void()> on_drained)
    : service_(service),
      session_id_(header.session_id),
      record_input_(record_input),
      on_failure_(std::move(on_failure)),
      on_drained_(std::move(on_drained)),
      started_(std::chrono::steady_clock::now()),
      strand_(boost::asio::make_strand(service.io_.get_executor())),
      cut_timer_(service.loop_),
      flush_timer_(strand_),
      header_(std::move(header)) {}

void SessionRecording::start() {
  boost::asio::post(strand_, [self = shared_from_this()] {
    auto created = recorder::SpoolWriter::create(self->service_.config_.recording.spool_dir,
                                                 std::move(*self->header_), self->service_.key_);
    self->header_.reset();
    if (auto* writer = std::get_if<recorder::SpoolWriter>(&created)) {
      self->writer_.emplace(std::move(*writer));
    } else {
      self->report(std::get<std::error_code>(created), "cannot create the spool file");
    }
  });
}

std::uint64_t SessionRecording::elapsed_us() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - started_)
                                        .count());
}

void SessionRecording::data(Stream stream, std::string_view bytes) {
  if (stream == Stream::input && !record_input_) return;
  if (failed_ || finished_) return;
  buffer_.add(kind_of(stream), elapsed_us(), bytes);
  after_add();
}

void SessionRecording::resize(int cols, int rows) {
  add(recorder::Event{recorder::EventKind::resize, elapsed_us(), "",
                      static_cast<std::uint16_t>(cols), static_cast<std::uint16_t>(rows)});
}

void SessionRecording::exec(const std::string& command_line) {
  add(recorder::Event{recorder::EventKind::exec, elapsed_us(), command_line, 0, 0});
}

void SessionRecording::marker(const std::string& text) {
  add(recorder::Event{recorder::EventKind::marker, elapsed_us(), text, 0, 0});
}

void SessionRecording::add(const recorder::Event& event) {
  if (failed_ || finished_) return;
  buffer_.add(event);
  after_add();
}

// Cuts a full chunk now, or makes sure the chunk is cut within kChunkAge.
void SessionRecording::after_add() {
  if (buffer_.size() >= recorder::kChunkBytes) return cut();
  if (timer_armed_) return;
  timer_armed_ = true;
  cut_timer_.expires_after(kChunkAge);
  cut_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->timer_armed_ = false;
    if (ec) return;
    self->cut();
    std::lock_guard<std::mutex> lock(self->queue_mutex_);
    self->spare_storage_.clear();
  });
}

void SessionRecording::cut() {
  if (buffer_.empty()) return;
  if (timer_armed_) cut_timer_.cancel();
  queued_bytes_ += buffer_.size();
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    std::string storage;
    if (!spare_storage_.empty()) {
      storage = std::move(spare_storage_.back());
      spare_storage_.pop_back();
    }
    queue_.push_back(buffer_.take(std::move(storage)));
    schedule = !std::exchange(flush_scheduled_, true);
  }
  if (schedule) boost::asio::post(strand_, [self = shared_from_this()] { self->schedule_flush(); });
}

void SessionRecording::schedule_flush() {
  const auto due = last_flush_ + kSyncInterval;
  if (std::chrono::steady_clock::now() >= due) return flush();
  flush_timer_.expires_at(due);
  flush_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code) { self->flush(); });
}

void SessionRecording::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  std::vector<recorder::ChunkBuffer> batch;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    batch.swap(queue_);
    flush_scheduled_ = false;
  }
  std::size_t bytes = 0;
  for (const recorder::ChunkBuffer& chunk : batch) bytes += chunk.size();
  if (bytes == 0) return;
  // Without a writer (creating the file failed) the chunks are dropped; that was reported.
  if (writer_) {
    using Sync = recorder::SpoolWriter::Sync;
    const bool together = service_.config_.recording.sync == SpoolSync::filesystem;
    if (std::error_code error = writer_->append(batch, together ? Sync::later : Sync::now)) {
      report(error, "cannot write the recording");
    } else if (together) {
      service_.sync_later(weak_from_this());
    }
  }
  keep_spare_storage(batch);
  const bool was_backlogged = backlogged();
  queued_bytes_ -= bytes;
  if (was_backlogged && !backlogged() && on_drained_) {
    boost::asio::post(service_.loop_, [self = shared_from_this()] { self->on_drained_(); });
  }
}

void SessionRecording::sync_alone() {
  boost::asio::post(strand_, [self = shared_from_this()] {
    if (!self->writer_) return;
    if (std::error_code error = self->writer_->sync()) {
      self->report(error, "cannot write the recording");
    }
  });
}

void SessionRecording::keep_spare_storage(std::vector<recorder::ChunkBuffer>& written) {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  for (recorder::ChunkBuffer& chunk : written) {
    if (spare_storage_.size() >= kSpareChunks) return;
    if (chunk.size() >= recorder::kChunkBytes) spare_storage_.push_back(chunk.release_storage());
  }
}

void SessionRecording::finish(const std::string& end_reason) {
  if (finished_) return;
  cut();
  finished_ = true;
  cut_timer_.cancel();
  boost::asio::post(strand_, [self = shared_from_this(), end_reason] {
    self->flush();
    if (self->writer_) {
      if (std::error_code error = self->writer_->finish(end_reason)) {
        spdlog::error("session={} cannot finish the recording: {}", self->session_id_,
                      error.message());
      }
      self->writer_.reset();
    }
    self->service_.finished(self->session_id_);
  });
}

// On the strand; the session hears about it on the loop, once.
void SessionRecording::report(std::error_code error, const char* what) {
  spdlog::error("session={} {}: {}", session_id_, what, error.message());
  writer_.reset();
  boost::asio::post(service_.loop_,
                    [self = shared_from_this(), why = std::string(what) + ": " + error.message()] {
                      if (self->failed_) return;
                      self->failed_ = true;
                      if (self->on_failure_) self->on_failure_(why);
                    });
}

// ---------------------------------------------------------------- the service

RecordingService::RecordingService(boost::asio::io_context& loop, const Config& config)
    : loop_(loop),
      config_(config),
      key_(load_key(config)),
      sync_strand_(boost::asio::make_strand(io_.get_executor())),
      sync_timer_(sync_strand_) {
  if (config.recording.sync != SpoolSync::filesystem) return;
  spool_fd_.reset(::open(config.recording.spool_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!spool_fd_) {
    spdlog::warn(
        "cannot open the spool folder {} for syncfs ({}); every recording syncs its own "
        "file instead",
        config.recording.spool_dir.string(), std::strerror(errno));
    return;
  }
  spdlog::info("recordings in {} are made durable together, one syncfs at a time",
               config.recording.spool_dir.string());
}

// Recordings still being written are finished first (their sessions ended with the loop); a
// file being shipped right now is completed, the rest wait in the spool folder.
RecordingService::~RecordingService() {
  io_.join();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (shipper_.joinable()) shipper_.join();
}

// A spool file is named after its session; a live session's file is still being written. Looked
// up by id: a node with thousands of sessions must not compare every file with every session.
bool RecordingService::is_live(const fs::path& spool_file) const {
  const std::string stem = spool_file.stem().string();
  std::int64_t session_id = 0;
  const auto [end, error] = std::from_chars(stem.data(), stem.data() + stem.size(), session_id);
  return error == std::errc() && end == stem.data() + stem.size() && live_.contains(session_id);
}

void RecordingService::start_shipping() {
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(config_.recording.spool_dir, ec)) {
    if (entry.path().extension() == ".pcr") leftovers_.insert(entry.path());
  }
  if (!leftovers_.empty()) {
    spdlog::warn("{} recording(s) left in {} by an earlier run; shipping them", leftovers_.size(),
                 config_.recording.spool_dir.string());
  }
  shipper_ = std::thread([this] { ship_loop(); });
}

std::shared_ptr<SessionRecording> RecordingService::record(recorder::Header header,
                                                           bool record_input,
                                                           SessionRecording::Failure on_failure,
                                                           std::function<void()> on_drained) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.insert(header.session_id);
  }
  auto recording = std::make_shared<SessionRecording>(*this, std::move(header), record_input,
                                                      std::move(on_failure), std::move(on_drained));
  recording->start();
  return recording;
}

void RecordingService::finished(std::int64_t session_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.erase(session_id);
  }
  wake_.notify_all();
}

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
  if (batch.empty() || (spool_fd_ && ::syncfs(spool_fd_.get()) == 0)) return;
  if (spool_fd_) {
    spdlog::warn("syncfs of the spool folder failed: {}; each recording syncs its own file",
                 std::strerror(errno));
  }
  for (const std::weak_ptr<SessionRecording>& weak : batch) {
    if (auto recording = weak.lock()) recording->sync_alone();
  }
}

void RecordingService::ship_loop() {
  store::Database database(config_.database.url);
  std::unique_lock<std::mutex> lock(mutex_);
  // What is not shipped by shutdown stays in the spool folder for the next start.
  while (!stopping_) {
    lock.unlock();
    try {
      ship_pass(database);
    } catch (const std::exception& e) {
      // A thread of its own: nothing may escape it, or the daemon ends.
      spdlog::error("recording shipper: {}; will retry", one_line(e.what()));
      database.reset();
    }
    lock.lock();
    wake_.wait_for(lock, kShipInterval, [this] { return stopping_; });
  }
}

// One look at the spool folder: every file not being written is shipped (and removed once the
// database holds it, checked). Errors are logged once each, not every pass.
void RecordingService::ship_pass(store::Database& database) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(config_.recording.spool_dir, ec)) {
    if (entry.path().extension() == ".pcr") files.push_back(entry.path());
  }
  for (const fs::path& file : files) {
    bool crashed = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return;
      crashed = leftovers_.contains(file);
      if (is_live(file)) continue;
    }
    std::string error;
    recorder::ShipResult result = recorder::ShipResult::failed;
    try {
      result =
          recorder::ship_spool_file(database.connection(), file, crashed, key_.public_key(), error);
    } catch (const std::exception& e) {
      error = e.what();
    }
    // A failure may have left the connection unusable; the next pass starts afresh.
    if (result == recorder::ShipResult::failed) database.reset();
    std::lock_guard<std::mutex> lock(mutex_);
    if (result == recorder::ShipResult::shipped) {
      leftovers_.erase(file);
      spdlog::info("recording {} stored in the database{}", file.filename().string(),
                   crashed ? " (left by an earlier run)" : "");
      continue;
    }
    if (error != last_error_) {
      spdlog::warn("cannot ship recording {} yet: {}; will retry", file.filename().string(),
                   one_line(error));
      last_error_ = error;
    }
  }
}

}  // namespace portcullis::proxy
