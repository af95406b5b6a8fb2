// Public interface of the `store` library: PostgreSQL connections and schema migrations.
// libpqxx is blocking: call these only from worker threads or the CLI, never from an
// event loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

namespace portcullis::store {

// The database could not be reached or the connection broke. Callers fail closed.
class DatabaseUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// True when `error` says the connection is unusable (the server restarted, went away or shut
// the session down), not that a statement was wrong: a fresh connection may then succeed.
// A commit whose outcome is unknown (pqxx::in_doubt_error) is not one: it must not be redone.
bool is_connection_failure(const pqxx::failure& error);

// One lazily (re)connecting connection. Not thread-safe: one per thread.
class Database {
 public:
  explicit Database(std::string url);
  // Returns an open connection, reconnecting if the previous one broke.
  // Throws DatabaseUnavailable (message without credentials) when it cannot connect.
  pqxx::connection& connection();
  // Drops the current connection so the next call reconnects (after a broken_connection).
  void reset();

  // Runs `work(tx)` in a transaction and commits. A kept connection found broken (PostgreSQL
  // restarted since it was last used) is replaced and `work` runs once more in a new
  // transaction, so the first request after an outage is not refused; `work` must therefore
  // have no effect outside `tx`. Throws DatabaseUnavailable when the database cannot be
  // reached, and any other error as `work` or libpqxx threw it.
  template <typename Work>
  std::invoke_result_t<Work&, pqxx::work&> transact(Work&& work) {
    for (bool retried = false;; retried = true) {
      const bool kept = conn_ != nullptr;
      try {
        pqxx::work tx(connection());
        if constexpr (std::is_void_v<std::invoke_result_t<Work&, pqxx::work&>>) {
          work(tx);
          tx.commit();
          return;
        } else {
          auto result = work(tx);
          tx.commit();
          return result;
        }
      } catch (const pqxx::in_doubt_error&) {
        reset();  // the commit's fate is unknown, and so is the connection's state
        throw;
      } catch (const pqxx::failure& e) {
        if (!is_connection_failure(e)) throw;
        reset();
        if (retried || !kept) throw DatabaseUnavailable(connection_lost(e));
      }
    }
  }

 private:
  std::string connection_lost(const pqxx::failure& error) const;

  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

// Listens on PostgreSQL NOTIFY channels from its own thread and connection, calling
// `on_notify(channel, payload)` there (so the callback must only post or enqueue). A lost
// connection is retried every second; `on_reconnect` then runs, because notifications sent
// while disconnected are gone and the caller must re-check what it watches.
class Listener {
 public:
  using Notify = std::function<void(const std::string& channel, const std::string& payload)>;
  Listener(std::string url, std::vector<std::string> channels, Notify on_notify,
           std::function<void()> on_reconnect);
  ~Listener();  // stops the thread (within about a second)
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // How many times the connection failed (and was tried again a second later); any thread.
  std::uint64_t failures() const;

  struct State;  // shared with the thread

 private:
  std::shared_ptr<State> state_;
  std::thread thread_;
};

struct Migration {
  int version;       // from the NNN_ prefix
  std::string name;  // file name, e.g. "001_init.sql"
  std::string sql;
};

// The migrations compiled into the binary from schema/NNN_*.sql, sorted by version.
const std::vector<Migration>& builtin_migrations();

// Applies every migration not yet recorded in schema_migrations, each inside its own
// transaction, in order. Idempotent. Returns the names applied (empty if up to date).
std::vector<std::string> migrate(pqxx::connection& conn);

}  // namespace portcullis::store
