// Runs blocking work (PostgreSQL, upstream SSH logins) off the event loops and hands the
// outcome back to the loop thread that asked. Each worker thread keeps its own database connection.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <utility>

#include "access/access.h"
#include "store/store.h"

namespace portcullis::proxy {

// A value or the reason there is none; what the loop receives from blocking work.
template <typename T>
struct Outcome {
  std::optional<T> value;
  std::string error;
  bool database_unavailable = false;
  bool refused = false;  // an access::AccessError: `error` is fit to show the user

  bool ok() const { return value.has_value(); }
};

class WorkerPool {
 public:
  WorkerPool(boost::asio::io_context& loop, std::string database_url, int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `work(tx)` in a transaction on a worker, commits, then calls `done(outcome)` on
  // `loop`'s thread (the pool's own loop when not given). Database trouble becomes an Outcome
  // error, never an exception.
  template <typename Work, typename Done>
  void transact(boost::asio::io_context& loop, Work work, Done done) {
    run([this, &loop, work = std::move(work), done = std::move(done)]() mutable {
      hand_back(loop, std::move(done), transact_now(work));
    });
  }
  template <typename Work, typename Done>
  void transact(Work work, Done done) {
    transact(loop_, std::move(work), std::move(done));
  }

  // Runs `work()` on a worker and `done(outcome)` on `loop`'s thread (the pool's own loop when
  // not given). An exception thrown by `work` comes back as the outcome's error: nothing escapes
  // a worker thread.
  template <typename Work, typename Done>
  void blocking(boost::asio::io_context& loop, Work work, Done done) {
    using T = std::invoke_result_t<Work>;
    run([&loop, work = std::move(work), done = std::move(done)]() mutable {
      Outcome<T> outcome;
      try {
        outcome.value.emplace(work());
      } catch (const std::exception& e) {
        outcome.error = e.what();
      } catch (...) {
        outcome.error = "unknown exception";
      }
      hand_back(loop, std::move(done), std::move(outcome));
    });
  }
  template <typename Work, typename Done>
  void blocking(Work work, Done done) {
    blocking(loop_, std::move(work), std::move(done));
  }

  // For blocking work on a worker that also needs the database: runs `work(tx)` in a
  // transaction on this thread's connection and commits. A connection broken by a database
  // restart is replaced and `work` runs once more (store::Database::transact), so nobody is
  // refused once the database is back.
  template <typename Work>
  auto transact_now(Work&& work) {
    using T = std::invoke_result_t<Work, pqxx::work&>;
    Outcome<T> outcome;
    try {
      outcome.value.emplace(thread_database().transact(work));
    } catch (const store::DatabaseUnavailable& e) {
      failures_.fetch_add(1, std::memory_order_relaxed);
      outcome = unavailable<T>(e.what());
    } catch (const access::AccessError& e) {
      outcome.value.reset();
      outcome.error = e.what();
      outcome.refused = true;
    } catch (const pqxx::failure& e) {
      // The database refused the transaction (an SQL error, a lost connection).
      failures_.fetch_add(1, std::memory_order_relaxed);
      outcome.value.reset();
      outcome.error = e.what();
    } catch (const std::exception& e) {
      outcome.value.reset();
      outcome.error = e.what();
    } catch (...) {
      outcome.value.reset();
      outcome.error = "unknown exception";
    }
    return outcome;
  }

  void stop();

  // For the metrics, any thread: jobs waiting for a thread, and transactions the database
  // failed (unreachable, or an SQL error; not a refusal).
  std::uint64_t queued() const { return queued_.load(std::memory_order_relaxed); }
  std::uint64_t failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  template <typename Done, typename T>
  static void hand_back(boost::asio::io_context& loop, Done done, Outcome<T> outcome) {
    boost::asio::post(loop, [done = std::move(done), outcome = std::move(outcome)]() mutable {
      done(std::move(outcome));
    });
  }

  template <typename Job>
  void run(Job job) {
    queued_.fetch_add(1, std::memory_order_relaxed);
    boost::asio::post(pool_, [this, job = std::move(job)]() mutable {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      job();
    });
  }
  store::Database& thread_database();

  template <typename T>
  Outcome<T> unavailable(const std::string& why) {
    thread_database().reset();
    Outcome<T> outcome;
    outcome.error = why;
    outcome.database_unavailable = true;
    return outcome;
  }

  boost::asio::io_context& loop_;
  std::string database_url_;
  std::atomic<std::uint64_t> queued_{0};
  std::atomic<std::uint64_t> failures_{0};
  boost::asio::thread_pool pool_;
};

// A pool as the sessions of one event loop use it: outcomes come back on that loop's thread
// (proxy/event_loops.h), whichever loop the pool itself belongs to.
class LoopWorkers {
 public:
  LoopWorkers(WorkerPool& pool, boost::asio::io_context& loop) : pool_(pool), loop_(loop) {}

  template <typename Work, typename Done>
  void transact(Work work, Done done) {
    pool_.transact(loop_, std::move(work), std::move(done));
  }
  template <typename Work, typename Done>
  void blocking(Work work, Done done) {
    pool_.blocking(loop_, std::move(work), std::move(done));
  }
  WorkerPool& pool() { return pool_; }

 private:
  WorkerPool& pool_;
  boost::asio::io_context& loop_;
};

}  // namespace portcullis::proxy
