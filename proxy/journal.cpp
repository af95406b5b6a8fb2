#include "proxy/journal.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "access/access.h"

namespace portcullis::proxy {
namespace {

// Entries applied in one transaction: a burst (100 sessions ending at once) costs one commit.
constexpr std::size_t kBatchSize = 256;
// Retries while the database is unreachable start soon and settle at this interval, so a
// database that is back gets the backlog within about a second.
constexpr std::chrono::milliseconds kFirstRetry{100};
constexpr std::chrono::milliseconds kLongestRetry{1000};

// 128 random bits as 32 hex digits: unique per run of any node, so entry ids never collide.
std::string random_boot_id() {
  std::random_device random;
  constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (int i = 0; i < 16; ++i) {
    const unsigned byte = random() & 0xffu;
    id += kHex[byte >> 4];
    id += kHex[byte & 0xf];
  }
  return id;
}

// An entry the database refuses for its own contents (bad JSON, an impossible value), as
// opposed to a database that cannot take any write now: only these are set aside.
bool is_the_entry_at_fault(const std::exception& error) {
  if (dynamic_cast<const std::invalid_argument*>(&error) != nullptr) return true;
  if (dynamic_cast<const nlohmann::json::exception*>(&error) != nullptr) return true;
  return dynamic_cast<const pqxx::data_exception*>(&error) != nullptr ||
         dynamic_cast<const pqxx::integrity_constraint_violation*>(&error) != nullptr;
}

}  // namespace

Journal::Journal(const Config& config)
    : url_(config.database.url),
      actor_("portcullisd:" + config.server.node_name),
      boot_(random_boot_id()),
      rejected_path_(config.database.journal_file.string() + ".rejected"),
      file_(config.database.journal_file),
      database_(url_) {
  take_over_leftovers();
  thread_ = std::thread([this] { run(); });
}

Journal::~Journal() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void Journal::take_over_leftovers() {
  store::JournalContents left = file_.read();
  for (const std::string& problem : left.problems) {
    spdlog::error("journal {}: {}; that entry is skipped", file_.path().string(), problem);
  }
  if (left.entries.empty()) return;
  spdlog::info("journal {}: {} entries left by an earlier run will be written to the database",
               file_.path().string(), left.entries.size());
  for (store::JournalEntry& entry : left.entries) {
    backlog_bytes_ += entry.to_line().size();
    pending_.push_back(std::move(entry));
  }
}

void Journal::submit(store::JournalEntry entry) {
  const std::uint64_t size = entry.to_line().size();  // outside the lock: the loop calls this
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (entry.kind == "audit" && backlog_bytes_ + size > kMaxBacklogBytes) {
      if (dropped_++ == 0) {
        spdlog::error(
            "journal {} holds {} MiB waiting for the database: audit rows are dropped "
            "(and counted) until it is written; session ends are still kept",
            file_.path().string(), kMaxBacklogBytes >> 20);
      }
      return;
    }
    entry.id = boot_ + ":" + std::to_string(next_sequence_++);
    backlog_bytes_ += size;
    incoming_.push_back(std::move(entry));
  }
  wake_.notify_one();
}

void Journal::run() {
  using Clock = std::chrono::steady_clock;
  auto retry_at = Clock::now();
  auto backoff = kFirstRetry;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    const auto has_news = [this] { return stopping_ || !incoming_.empty(); };
    if (pending_.empty()) {
      wake_.wait(lock, has_news);
    } else {
      wake_.wait_until(lock, retry_at, has_news);
    }
    std::vector<store::JournalEntry> batch = std::move(incoming_);
    incoming_.clear();
    const bool stopping = stopping_;
    lock.unlock();
    try {
      if (!batch.empty()) persist(std::move(batch));
      if (!pending_.empty() && (stopping || Clock::now() >= retry_at)) {
        if (apply_pending()) {
          backoff = kFirstRetry;
        } else {
          retry_at = Clock::now() + backoff;
          backoff = std::min(backoff * 2, kLongestRetry);
        }
      }
      if (pending_.empty() && !applied_ids_.empty()) forget_applied();
    } catch (const std::exception& e) {
      // A thread of its own: nothing may escape it, or the daemon ends.
      spdlog::error("journal {}: {}", file_.path().string(), one_line(e.what()));
      retry_at = Clock::now() + kLongestRetry;
    }
    lock.lock();
    if (stopping && incoming_.empty()) break;
  }
  if (!pending_.empty()) {
    spdlog::warn("journal {}: {} entries wait for the database; the next start writes them",
                 file_.path().string(), pending_.size());
  }
}

void Journal::persist(std::vector<store::JournalEntry> batch) {
  try {
    file_.append(batch);
  } catch (const std::system_error& e) {
    // Still written to the database if it is there; only a crash before that loses them.
    spdlog::error("journal: {}; {} entries are kept in memory only until the database has them",
                  e.what(), batch.size());
  }
  for (store::JournalEntry& entry : batch) pending_.push_back(std::move(entry));
}

// Writes the pending entries in order; false when the database cannot take them now.
bool Journal::apply_pending() {
  const std::size_t waiting = pending_.size();
  while (!pending_.empty()) {
    if (!apply_batch(std::min(pending_.size(), kBatchSize))) return false;
  }
  if (unavailable_) {
    spdlog::info("the database is reachable again: {} queued entries written", waiting);
    unavailable_ = false;
    last_problem_.clear();
  }
  std::uint64_t dropped = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dropped = std::exchange(dropped_, 0);
  }
  if (dropped > 0) {
    submit(access::journal_audit(actor_, "audit.dropped", "journal:" + file_.path().string(),
                                 nlohmann::json{{"dropped", dropped}}.dump()));
  }
  return true;
}

bool Journal::apply_batch(std::size_t count) {
  try {
    database_.transact([&](pqxx::work& tx) {
      for (std::size_t i = 0; i < count; ++i) access::apply_journal_entry(tx, pending_[i]);
    });
  } catch (const store::DatabaseUnavailable& e) {
    note_unavailable(e.what());
    return false;
  } catch (const std::exception& e) {
    if (!is_the_entry_at_fault(e)) {
      // The database is there but refuses every write (a missing migration, no privilege):
      // keep everything and retry; the log says why.
      note_unavailable(e.what());
      database_.reset();
      return false;
    }
    return apply_one_by_one(count);
  }
  settle_front(count);
  return true;
}

// The first `count` pending entries are done with (written, or set aside): their ids wait for
// the file to be emptied, and they no longer count against the backlog.
void Journal::settle_front(std::size_t count) {
  std::uint64_t bytes = 0;
  for (std::size_t i = 0; i < count; ++i) {
    bytes += pending_.front().to_line().size();
    applied_ids_.push_back(std::move(pending_.front().id));
    pending_.pop_front();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  backlog_bytes_ -= std::min(backlog_bytes_, bytes);
}

// One entry of the batch is refused for its contents: apply each alone, set that one aside.
// False when the database stopped taking writes on the way (the next attempt starts there).
bool Journal::apply_one_by_one(std::size_t count) {
  for (std::size_t i = 0; i < count && !pending_.empty(); ++i) {
    try {
      database_.transact(
          [&](pqxx::work& tx) { access::apply_journal_entry(tx, pending_.front()); });
    } catch (const std::exception& e) {
      if (!is_the_entry_at_fault(e)) {
        note_unavailable(e.what());
        return false;
      }
      reject(pending_.front(), e.what());
    }
    settle_front(1);
  }
  return true;
}

// Kept beside the journal for the administrator, never retried: the database will refuse it
// again, and the entries after it must not wait behind it forever.
void Journal::reject(const store::JournalEntry& entry, const std::string& why) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("journal entry {} ({}) refused by the database: {}; kept in {}", entry.id,
                entry.kind, one_line(why), rejected_path_.string());
  UniqueFd fd(::open(rejected_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  try {
    if (!fd) throw std::system_error(errno, std::generic_category(), rejected_path_.string());
    write_all(fd, entry.to_line(), rejected_path_);
  } catch (const std::system_error& e) {
    spdlog::error("cannot keep the refused journal entry {}: {}", entry.id, e.what());
  }
}

// Everything in the file is applied: empty it, then let the database forget the ids (a crash
// between the two only leaves a few ids behind; a crash before the first replays them, and the
// ids make that harmless).
void Journal::forget_applied() {
  file_.clear();
  std::vector<std::string> ids = std::move(applied_ids_);
  applied_ids_.clear();
  try {
    database_.transact([&](pqxx::work& tx) { access::forget_journal_entries(tx, ids); });
  } catch (const std::exception& e) {
    spdlog::debug("journal: cannot forget {} applied ids yet: {}", ids.size(), one_line(e.what()));
  }
}

void Journal::note_unavailable(const std::string& why) {
  failures_.fetch_add(1, std::memory_order_relaxed);
  if (!unavailable_ || why != last_problem_) {
    spdlog::warn("cannot write to the database yet: {}; {} entries wait in {}, retrying",
                 one_line(why), pending_.size(), file_.path().string());
  }
  unavailable_ = true;
  last_problem_ = why;
}

}  // namespace portcullis::proxy
