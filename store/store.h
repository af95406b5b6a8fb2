// Public interface of the `store` library: PostgreSQL connections and schema migrations.
// libpqxx is blocking: call these only from worker threads or the CLI, never from an
// event loop.
#pragma once

#include <functional>
#include <memory>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace portcullis::store {

// The database could not be reached or the connection broke. Callers fail closed.
class DatabaseUnavailable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One lazily (re)connecting connection. Not thread-safe: one per thread.
class Database {
 public:
  explicit Database(std::string url);
  // Returns an open connection, reconnecting if the previous one broke.
  // Throws DatabaseUnavailable (message without credentials) when it cannot connect.
  pqxx::connection& connection();
  // Drops the current connection so the next call reconnects (after a broken_connection).
  void reset();

 private:
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
