// The recording service the daemon runs. Each session's events are gathered on the loop and cut
// into chunks (every second or 64 KiB); a small I/O pool writes them to the session's spool file
// in order and makes them durable ([recording] sync: an fdatasync of each file, or one syncfs for
// every session's writes), so the loop never waits for the disk. A shipper thread
// (recorder/shipper.h) stores the chunks of running sessions as they are written (live shipping,
// [recording] live_shipping) and moves finished spool files into the RecordingStore, starting
// with whatever a crash left behind.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/common.h"
#include "recorder/config.h"
#include "recorder/format.h"
#include "recorder/keys.h"
#include "recorder/shipper.h"
#include "recorder/store.h"
#include "recorder/writer.h"

namespace portcullis::recorder {

class RecordingService;

class SessionRecording : public std::enable_shared_from_this<SessionRecording> {
 public:
  // Called once on the loop when the recording cannot be written (disk full...).
  using Failure = std::function<void(const std::string& why)>;

  // `loop` is the session's: the failure and drained calls come back on its thread.
  SessionRecording(RecordingService& service, boost::asio::io_context& loop, Header header,
                   bool record_input, Failure on_failure, std::function<void()> on_drained);
  SessionRecording(const SessionRecording&) = delete;
  SessionRecording& operator=(const SessionRecording&) = delete;

  // All on the loop thread.
  void start();
  // An output, error_output or input event (input only when the session records input).
  void data(EventKind kind, std::string_view bytes);
  // Input typed by `author`, who joined the session (only when the session records input).
  void joined_input(const std::string& author, std::string_view bytes);
  void resize(int cols, int rows);
  void exec(const std::string& command_line);
  void marker(const std::string& text);
  // Writes the last chunk and the signed trailer; the file is then handed to the shipper.
  void finish(const std::string& end_reason);

  // Loop thread. While an auditor watches, chunks are cut every 100 ms instead of every second
  // and shipped to the store at once (live shipping), and each pass that stores some notifies
  // 'portcullis_recording' with the session id.
  void set_watched(bool watched);

  // Any thread, after a syncfs failed: the spool file's own fdatasync tells whether this
  // session's chunks are safe (a failure is reported like a failed write). `written` are the
  // chunks the syncfs was to make durable, shipped live once the fdatasync has.
  void sync_alone(std::vector<Chunk> written);
  // Any thread, before a syncfs: the chunks written since the last one, to ship live once it
  // has made them durable.
  std::vector<Chunk> take_unsynced();

  // More is waiting for the disk than the session may run ahead by: the session stops moving
  // data (SSH flow control holds the peers back) until `on_drained` is called on the loop.
  bool backlogged() const { return queued_bytes_ >= kBacklogLimit; }

 private:
  friend class RecordingService;  // hands over the chunks a syncfs made durable
  static constexpr std::size_t kBacklogLimit = std::size_t{8} << 20;

  void add(const Event& event);
  void after_add();
  void cut();
  void keep_spare_storage(std::vector<ChunkBuffer>& written);
  void schedule_flush();  // on the strand: now, or when the last sync is kSyncInterval old
  void flush();           // on the strand: writes every queued chunk with one sync
  void report(std::error_code error, const char* what);
  void write(const std::vector<ChunkBuffer>& batch);  // on the strand
  void ship_live(std::vector<Chunk> written);
  std::uint64_t elapsed_us() const;

  RecordingService& service_;
  boost::asio::io_context& loop_;
  const std::int64_t session_id_;
  const bool record_input_;
  Failure on_failure_;
  std::function<void()> on_drained_;
  const std::chrono::steady_clock::time_point started_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> strand_;
  boost::asio::steady_timer cut_timer_;
  ChunkBuffer buffer_;
  bool timer_armed_ = false;
  bool watched_ = false;
  bool failed_ = false;
  bool finished_ = false;
  // Chunks cut on the loop, waiting for the strand.
  std::mutex queue_mutex_;
  std::vector<ChunkBuffer> queue_;
  // The bytes of full chunks already written, reused for the next ones while data streams; let
  // go when the session turns quiet, so an idle session keeps no chunk-sized buffers.
  std::vector<std::string> spare_storage_;
  bool flush_scheduled_ = false;
  std::atomic<std::size_t> queued_bytes_{0};
  // Only touched on the strand.
  boost::asio::steady_timer flush_timer_;
  std::chrono::steady_clock::time_point last_flush_{};
  std::optional<Header> header_;
  std::optional<SpoolWriter> writer_;
  // [recording] sync = "filesystem": chunks written, waiting for the syncfs before shipping live.
  std::mutex unsynced_mutex_;
  std::vector<Chunk> unsynced_;
};

// What the recordings of this node amount to, for portcullisd's metrics.
struct RecordingStats {
  std::uint64_t raw_bytes = 0;     // encoded event bytes written to spool files, before zstd
  std::uint64_t stored_bytes = 0;  // the compressed chunk bytes those took in the spool files
  ShipperStats shipping;
};

class RecordingService {
 public:
  // Loads the node's signing key; throws std::runtime_error with a message for the operator.
  // Finished recordings are shipped to `store`.
  RecordingService(const RecordingConfig& config, std::unique_ptr<RecordingStore> store);
  // Recordings still being written are finished first (their sessions ended with the loop);
  // then the shipper stops.
  ~RecordingService();
  RecordingService(const RecordingService&) = delete;
  RecordingService& operator=(const RecordingService&) = delete;

  // Ships what an earlier run left in the spool folder (without trailer: `incomplete`), then
  // every finished spool file, retrying while the database is away.
  void start_shipping();

  // The node's Ed25519 key, which also signs the audit log's checkpoints (AuditTail).
  const SigningKey& signing_key() const { return key_; }

  // Sessions on several event loops record at once: each passes its own loop.
  std::shared_ptr<SessionRecording> record(boost::asio::io_context& loop, Header header,
                                           bool record_input, SessionRecording::Failure on_failure,
                                           std::function<void()> on_drained);

  // Any thread.
  RecordingStats stats() const;

 private:
  friend class SessionRecording;
  // Syncs are at least this far apart: a bulk transfer cuts thousands of chunks a second, and
  // one fdatasync then covers every chunk of the interval instead of one each.
  static constexpr std::chrono::milliseconds kSyncInterval{20};

  void finished(std::int64_t session_id);
  // [recording] sync = "filesystem": `recording` wrote chunks that the next syncfs makes durable.
  void sync_later(std::weak_ptr<SessionRecording> recording);
  void schedule_filesystem_sync();  // on sync_strand_
  void sync_filesystem();           // on sync_strand_

  const RecordingConfig& config_;
  const SigningKey key_;
  boost::asio::thread_pool io_{2};

  // [recording] sync = "filesystem": the sessions whose writes wait for the next syncfs.
  UniqueFd spool_fd_;  // the spool folder, whose filesystem syncfs flushes
  std::mutex unsynced_mutex_;
  std::vector<std::weak_ptr<SessionRecording>> unsynced_;
  bool sync_scheduled_ = false;
  boost::asio::strand<boost::asio::thread_pool::executor_type> sync_strand_;
  boost::asio::steady_timer sync_timer_;               // on sync_strand_
  std::chrono::steady_clock::time_point last_sync_{};  // on sync_strand_

  // Added to by the session strands as they write, read by stats().
  std::atomic<std::uint64_t> raw_bytes_{0};
  std::atomic<std::uint64_t> stored_bytes_{0};

  Shipper shipper_;
};

}  // namespace portcullis::recorder
