// Runs blocking work (PostgreSQL, upstream SSH logins) off the event loop and hands the
// outcome back to the loop thread. Each worker thread keeps its own database connection.
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
  // the loop thread. Database trouble becomes an Outcome error, never an exception.
  template <typename Work, typename Done>
  void transact(Work work, Done done) {
    using T = std::invoke_result_t<Work, pqxx::work&>;
    run([this, work = std::move(work), done = std::move(done)]() mutable {
      Outcome<T> outcome = transact_now(work);
      boost::asio::post(loop_, [done = std::move(done), outcome = std::move(outcome)]() mutable {
        done(std::move(outcome));
      });
    });
  }

  // Runs `work()` on a worker and `done(outcome)` on the loop thread. An exception thrown by
  // `work` comes back as the outcome's error: nothing escapes a worker thread.
  template <typename Work, typename Done>
  void blocking(Work work, Done done) {
    using T = std::invoke_result_t<Work>;
    run([this, work = std::move(work), done = std::move(done)]() mutable {
      Outcome<T> outcome;
      try {
        outcome.value.emplace(work());
      } catch (const std::exception& e) {
        outcome.error = e.what();
      } catch (...) {
        outcome.error = "unknown exception";
      }
      boost::asio::post(loop_, [done = std::move(done), outcome = std::move(outcome)]() mutable {
        done(std::move(outcome));
      });
    });
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

}  // namespace portcullis::proxy
