// One session's recording: events gathered on the loop, chunks written on the I/O pool.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <iterator>
#include <utility>

#include "recorder/service.h"

namespace portcullis::recorder {
namespace {

// A chunk is cut this long after its first event, if it has not filled up before.
constexpr std::chrono::seconds kChunkAge{1};
// The same while an auditor watches: the watcher follows the screen at most this far behind
// (plus the shipper's pass), at the cost of more, smaller chunks.
constexpr std::chrono::milliseconds kWatchedChunkAge{100};
// Written chunks whose bytes a streaming session reuses. A batch written every kSyncInterval
// holds a few bulk chunks at 100-200 MiB/s; a chunk without spare bytes allocates (and
// page-faults) a fresh MiB.
constexpr std::size_t kSpareChunks = 4;
// A chunk is cut once it holds this much. Interactive sessions are cut by age long before; this
// is the size of a bulk transfer's chunks. Whatever its size, a chunk costs a zstd frame, a
// record with its hash, a write, a live-shipping statement and a row in PostgreSQL: at 64 KiB
// (kChunkBytes) a 1 GiB download made 16384 of each, and PostgreSQL spent more CPU storing them
// than portcullisd spent relaying the bytes (bench/NOTES.md). At 1 MiB a streaming session holds
// a few MiB (the chunk being filled, the spare ones, what waits for the disk).
constexpr std::size_t kCutBytes = std::size_t{1} << 20;

}  // namespace

SessionRecording::SessionRecording(RecordingService& service, boost::asio::io_context& loop,
                                   Header header, bool record_input, Failure on_failure,
                                   std::function<void()> on_drained)
    : service_(service),
      loop_(loop),
      session_id_(header.session_id),
      record_input_(record_input),
      on_failure_(std::move(on_failure)),
      on_drained_(std::move(on_drained)),
      started_(std::chrono::steady_clock::now()),
      strand_(boost::asio::make_strand(service.io_.get_executor())),
      cut_timer_(loop),
      flush_timer_(strand_),
      header_(std::move(header)) {}

void SessionRecording::start() {
  boost::asio::post(strand_, [self = shared_from_this()] {
    auto created = SpoolWriter::create(self->service_.config_.spool_dir, std::move(*self->header_),
                                       self->service_.key_);
    self->header_.reset();
    if (auto* writer = std::get_if<SpoolWriter>(&created)) {
      self->writer_.emplace(std::move(*writer));
      if (self->service_.config_.live_shipping) {
        self->service_.shipper_.live().opened(
            self->session_id_,
            std::make_shared<const RecordingStore::SpoolHeader>(RecordingStore::SpoolHeader{
                self->writer_->header(), self->writer_->header_record()}));
      }
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

void SessionRecording::data(EventKind kind, std::string_view bytes) {
  if (kind == EventKind::input && !record_input_) return;
  if (failed_ || finished_) return;
  buffer_.add(kind, elapsed_us(), bytes);
  after_add();
}

void SessionRecording::joined_input(const std::string& author, std::string_view bytes) {
  if (!record_input_) return;
  Event event{EventKind::input, elapsed_us(), std::string(bytes), 0, 0};
  event.author = author;
  add(event);
}

void SessionRecording::resize(int cols, int rows) {
  add(Event{EventKind::resize, elapsed_us(), "", static_cast<std::uint16_t>(cols),
            static_cast<std::uint16_t>(rows)});
}

void SessionRecording::exec(const std::string& command_line) {
  add(Event{EventKind::exec, elapsed_us(), command_line, 0, 0});
}

void SessionRecording::marker(const std::string& text) {
  add(Event{EventKind::marker, elapsed_us(), text, 0, 0});
}

void SessionRecording::add(const Event& event) {
  if (failed_ || finished_) return;
  buffer_.add(event);
  after_add();
}

// Cuts a full chunk now, or makes sure the chunk is cut within kChunkAge.
void SessionRecording::after_add() {
  if (buffer_.size() >= kCutBytes) return cut();
  if (timer_armed_) return;
  timer_armed_ = true;
  cut_timer_.expires_after(watched_ ? std::chrono::milliseconds(kWatchedChunkAge) : kChunkAge);
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
    } else if (buffer_.size() >= kCutBytes) {
      // Streaming: the next chunk will be as large. Reserved whole (a chunk ends with a read of
      // up to 64 KiB past kCutBytes), it is never copied into a larger string as it fills.
      storage.reserve(kCutBytes + kChunkBytes);
    }
    queue_.push_back(buffer_.take(std::move(storage)));
    schedule = !std::exchange(flush_scheduled_, true);
  }
  if (schedule) boost::asio::post(strand_, [self = shared_from_this()] { self->schedule_flush(); });
}

void SessionRecording::schedule_flush() {
  const auto due = last_flush_ + RecordingService::kSyncInterval;
  if (std::chrono::steady_clock::now() >= due) return flush();
  flush_timer_.expires_at(due);
  flush_timer_.async_wait(
      [self = shared_from_this()](boost::system::error_code) { self->flush(); });
}

void SessionRecording::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  std::vector<ChunkBuffer> batch;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    batch.swap(queue_);
    flush_scheduled_ = false;
  }
  std::size_t bytes = 0;
  for (const ChunkBuffer& chunk : batch) bytes += chunk.size();
  if (bytes == 0) return;
  write(batch);
  keep_spare_storage(batch);
  const bool was_backlogged = backlogged();
  queued_bytes_ -= bytes;
  if (was_backlogged && !backlogged() && on_drained_) {
    boost::asio::post(loop_, [self = shared_from_this()] { self->on_drained_(); });
  }
}

// Without a writer (creating the file failed) the chunks are dropped; that was reported. Written
// chunks are shipped live once durable: now, or after the next syncfs.
void SessionRecording::write(const std::vector<ChunkBuffer>& batch) {
  if (!writer_) return;
  using Sync = SpoolWriter::Sync;
  const bool together = service_.config_.sync == SpoolSync::filesystem;
  std::vector<Chunk> written;
  const std::uint64_t raw_before = writer_->raw_bytes();
  const std::uint64_t stored_before = writer_->compressed_bytes();
  const std::error_code error =
      writer_->append(batch, together ? Sync::later : Sync::now,
                      service_.config_.live_shipping ? &written : nullptr);
  // Counted once a batch, not once a byte: the data path pays one atomic add per few chunks.
  service_.raw_bytes_.fetch_add(writer_->raw_bytes() - raw_before, std::memory_order_relaxed);
  service_.stored_bytes_.fetch_add(writer_->compressed_bytes() - stored_before,
                                   std::memory_order_relaxed);
  if (error) {
    report(error, "cannot write the recording");
  } else if (together) {
    {
      std::lock_guard<std::mutex> lock(unsynced_mutex_);
      std::move(written.begin(), written.end(), std::back_inserter(unsynced_));
    }
    service_.sync_later(weak_from_this());
  } else {
    ship_live(std::move(written));
  }
}

void SessionRecording::ship_live(std::vector<Chunk> written) {
  if (!written.empty()) service_.shipper_.live().add(session_id_, std::move(written));
}

std::vector<Chunk> SessionRecording::take_unsynced() {
  std::lock_guard<std::mutex> lock(unsynced_mutex_);
  return std::exchange(unsynced_, {});
}

void SessionRecording::sync_alone(std::vector<Chunk> written) {
  boost::asio::post(strand_, [self = shared_from_this(), written = std::move(written)]() mutable {
    if (!self->writer_) return;
    if (std::error_code error = self->writer_->sync()) {
      self->report(error, "cannot write the recording");
    } else {
      self->ship_live(std::move(written));
    }
  });
}

void SessionRecording::set_watched(bool watched) {
  watched_ = watched;
  if (!service_.config_.live_shipping) return;
  service_.shipper_.live().set_watched(session_id_, watched);
  // What is buffered goes out now: the watcher sees the current screen at once.
  if (watched) cut();
}

void SessionRecording::keep_spare_storage(std::vector<ChunkBuffer>& written) {
  std::lock_guard<std::mutex> lock(queue_mutex_);
  for (ChunkBuffer& chunk : written) {
    if (spare_storage_.size() >= kSpareChunks) return;
    if (chunk.size() >= kChunkBytes) spare_storage_.push_back(chunk.release_storage());
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
    self->service_.shipper_.live().closed(self->session_id_);
    self->service_.finished(self->session_id_);
  });
}

// On the strand; the session hears about it on the loop, once.
void SessionRecording::report(std::error_code error, const char* what) {
  spdlog::error("session={} {}: {}", session_id_, what, error.message());
  writer_.reset();
  boost::asio::post(loop_,
                    [self = shared_from_this(), why = std::string(what) + ": " + error.message()] {
                      if (self->failed_) return;
                      self->failed_ = true;
                      if (self->on_failure_) self->on_failure_(why);
                    });
}

}  // namespace portcullis::recorder
