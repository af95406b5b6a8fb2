// Moving spool files into the recording store.
//
// The shipper stores only what verify() accepts from the spool: the chunks that chain from the
// header in order, and the trailer when it checks. It deletes the spool file only after reading
// the recording back from the store and finding the same bytes, intact.
#include "recorder/shipper.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/common.h"

namespace portcullis::recorder {
namespace {

namespace fs = std::filesystem;

// The shipper looks for finished spool files this often (and at once when a session ends).
constexpr std::chrono::seconds kShipInterval{2};
// Running sessions' chunks are stored this often: a chunk reaches the database at most about
// this long after it is cut (and cut at most a second after its first event), at two
// transactions a second for every session of the node together.
constexpr std::chrono::milliseconds kLivePassInterval{500};
// While someone watches, a pass follows new chunks at once, but passes are at least this far
// apart, so that many watched sessions cutting every 100 ms share their transactions.
constexpr std::chrono::milliseconds kWatchedPassGap{50};

std::string read_spool(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RecordingError("cannot read " + path.string());
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void remove_spool(const fs::path& spool) {
  fs::remove(spool);
  const int dir = ::open(spool.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

// What the store is told about a spool file's verified part.
RecordingStore::Update update_for(const ParsedRecording& r, const Verification& v, bool crashed) {
  RecordingStore::Update update{r, v.chunks_checked, RecordingStore::State::recording, ""};
  if (v.complete) {
    update.state = RecordingStore::State::complete;
  } else if (crashed) {
    update.state = RecordingStore::State::incomplete;
    update.incomplete_reason = "the node stopped before the session ended: " + v.problem;
  }
  return update;
}

ShipResult ship(RecordingStore& store, const fs::path& spool, bool crashed,
                const std::optional<PublicKey>& public_key, std::string& error) {
  const std::string file = read_spool(spool);
  const ParsedRecording r = parse(file);
  const Verification v = verify(r, public_key);
  store.save(update_for(r, v, crashed));
  if (!v.intact) {
    error = spool.string() + ": damaged, stored up to chunk " + std::to_string(v.chunks_checked) +
            " and kept: " + v.problem;
    return ShipResult::failed;
  }
  if (!v.complete && !crashed) {
    error = spool.string() + ": still being recorded (" + v.problem + ")";
    return ShipResult::partial;
  }
  const std::string stored = store.load(r.header.session_id);
  const Verification check = verify(parse(stored), public_key);
  if (stored != std::string_view(file).substr(0, r.valid_bytes) || !check.intact) {
    error = spool.string() + ": the database does not hold the same recording; spool kept" +
            (check.problem.empty() ? "" : " (" + check.problem + ")");
    return ShipResult::failed;
  }
  remove_spool(spool);
  return ShipResult::shipped;
}

std::vector<fs::path> spool_files(const fs::path& spool_dir) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(spool_dir, ec)) {
    if (entry.path().extension() == ".pcr") files.push_back(entry.path());
  }
  return files;
}

}  // namespace

ShipResult ship_spool_file(RecordingStore& store, const fs::path& spool, bool crashed,
                           const std::optional<PublicKey>& public_key, std::string& error) {
  try {
    return ship(store, spool, crashed, public_key, error);
  } catch (const std::exception& e) {
    // Store errors, an unreadable file, a header clash: all leave the spool in place.
    error = spool.string() + ": " + e.what();
    return ShipResult::failed;
  }
}

// ---------------------------------------------------------------- the shipper thread

Shipper::Shipper(fs::path spool_dir, std::unique_ptr<RecordingStore> store,
                 const PublicKey& public_key, std::optional<ArchiveOptions> compaction)
    : spool_dir_(std::move(spool_dir)),
      store_(std::move(store)),
      public_key_(public_key),
      compaction_(std::move(compaction)),
      live_queue_(LiveQueue::kDefaultByteLimit, [this] { wake_for_watcher(); }),
      live_shipper_(live_queue_, spool_dir_, public_key_),
      live_synced_at_(std::chrono::steady_clock::now().time_since_epoch().count()),
      spool_synced_at_(live_synced_at_.load()) {}

Shipper::~Shipper() { stop(); }

void Shipper::start() {
  for (fs::path& file : spool_files(spool_dir_)) leftovers_.insert(std::move(file));
  if (!leftovers_.empty()) {
    spdlog::warn("{} recording(s) left in {} by an earlier run; shipping them", leftovers_.size(),
                 spool_dir_.string());
  }
  thread_ = std::thread([this] { ship_loop(); });
}

void Shipper::writing(std::int64_t session_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  live_.insert(session_id);
}

void Shipper::written(std::int64_t session_id) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    live_.erase(session_id);
  }
  wake_.notify_all();
}

ShipperStats Shipper::stats() const {
  using std::chrono::steady_clock;
  const steady_clock::time_point synced(
      steady_clock::duration(std::min(live_synced_at_.load(std::memory_order_relaxed),
                                      spool_synced_at_.load(std::memory_order_relaxed))));
  return ShipperStats{backlog_files_.load(std::memory_order_relaxed),
                      backlog_bytes_.load(std::memory_order_relaxed), live_queue_.queued_bytes(),
                      std::max(steady_clock::now() - synced, steady_clock::duration::zero())};
}

void Shipper::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

namespace {

// A spool file is named after its session: "<id>.pcr".
std::optional<std::int64_t> session_of(const fs::path& spool_file) {
  const std::string stem = spool_file.stem().string();
  std::int64_t session_id = 0;
  const auto [end, error] = std::from_chars(stem.data(), stem.data() + stem.size(), session_id);
  if (error != std::errc() || end != stem.data() + stem.size()) return std::nullopt;
  return session_id;
}

}  // namespace

// A live session's file is still being written. Looked up by id: a node with thousands of
// sessions must not compare every file with every session.
bool Shipper::is_live(const fs::path& spool_file) const {
  const std::optional<std::int64_t> session_id = session_of(spool_file);
  return session_id && live_.contains(*session_id);
}

// Off the event loop and after the session: recompressing costs CPU (zstd -19 runs at a few
// MB/s), which a running session must never wait for. A failure leaves the chunks as they are.
void Shipper::compact(const fs::path& shipped_spool_file) {
  const std::optional<std::int64_t> session_id = session_of(shipped_spool_file);
  if (!compaction_ || !session_id) return;
  const auto started = std::chrono::steady_clock::now();
  try {
    const RecordingStore::Compaction c = store_->compact(*session_id, {public_key_}, *compaction_);
    if (!c.compacted) {
      spdlog::debug("recording of session {} not compacted: {}", *session_id, c.skipped);
      return;
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::steady_clock::now() - started)
                        .count();
    spdlog::info(
        "recording of session {} compacted: {} chunks into {} segment(s), {} -> {} bytes stored "
        "({:.1f}% -> {:.1f}% of {} raw) in {} ms",
        *session_id, c.chunks, c.segments, c.bytes_before, c.bytes_after,
        c.raw_bytes ? 100.0 * static_cast<double>(c.bytes_before) / static_cast<double>(c.raw_bytes)
                    : 0.0,
        c.raw_bytes ? 100.0 * static_cast<double>(c.bytes_after) / static_cast<double>(c.raw_bytes)
                    : 0.0,
        c.raw_bytes, ms);
  } catch (const std::exception& e) {
    spdlog::warn("cannot compact the recording of session {}: {}; its chunks are kept as shipped",
                 *session_id, one_line(e.what()));
  }
}

void Shipper::wake_for_watcher() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    watcher_waiting_ = true;
  }
  wake_.notify_all();
}

void Shipper::ship_loop() {
  auto next_spool_pass = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    lock.unlock();
    live_pass_if_due();
    if (std::chrono::steady_clock::now() >= next_spool_pass) {
      const auto started = std::chrono::steady_clock::now();
      try {
        if (ship_pass()) spool_synced_at_ = started.time_since_epoch().count();
      } catch (const std::exception& e) {
        // A thread of its own: nothing may escape it, or the daemon ends.
        spdlog::error("recording shipper: {}; will retry", one_line(e.what()));
      }
      next_spool_pass = std::chrono::steady_clock::now() + kShipInterval;
    }
    lock.lock();
    wake_.wait_until(lock, std::min(next_spool_pass, last_live_pass_ + kLivePassInterval),
                     [this] { return stopping_ || watcher_waiting_; });
    if (watcher_waiting_ && !stopping_) {
      wake_.wait_until(lock, last_live_pass_ + kWatchedPassGap, [this] { return stopping_; });
    }
  }
}

// A pass every kLivePassInterval, or sooner when a watched session has chunks waiting.
void Shipper::live_pass_if_due() {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (now < last_live_pass_ + kLivePassInterval && !watcher_waiting_) return;
    watcher_waiting_ = false;
  }
  last_live_pass_ = now;
  try {
    if (live_shipper_.pass(*store_)) live_synced_at_ = now.time_since_epoch().count();
  } catch (const std::exception& e) {
    spdlog::error("live recording shipping: {}; will retry", one_line(e.what()));
  }
}

// One look at the spool folder: every file not being written is shipped (and removed once the
// store holds it, checked). Errors are logged once each, not every pass. True when every file
// not being written was shipped; the ones left are the backlog.
bool Shipper::ship_pass() {
  std::uint64_t backlog_files = 0;
  std::uint64_t backlog_bytes = 0;
  for (const fs::path& file : spool_files(spool_dir_)) {
    bool crashed = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) return false;
      crashed = leftovers_.contains(file);
      if (is_live(file)) continue;
    }
    live_pass_if_due();  // a long file must not hold the running sessions back
    std::string error;
    ShipResult result = ShipResult::failed;
    try {
      store_->connect();
      result = ship_spool_file(*store_, file, crashed, public_key_, error);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (result == ShipResult::shipped) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        leftovers_.erase(file);
      }
      spdlog::info("recording {} stored in the database{}", file.filename().string(),
                   crashed ? " (left by an earlier run)" : "");
      compact(file);
      continue;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    ++backlog_files;
    std::error_code size_error;
    const std::uintmax_t size = fs::file_size(file, size_error);
    if (!size_error) backlog_bytes += size;
    if (error != last_error_) {
      spdlog::warn("cannot ship recording {} yet: {}; will retry", file.filename().string(),
                   one_line(error));
      last_error_ = error;
    }
  }
  backlog_files_ = backlog_files;
  backlog_bytes_ = backlog_bytes;
  return backlog_files == 0;
}

}  // namespace portcullis::recorder
