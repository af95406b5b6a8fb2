#include "proxy/worker_pool.h"

#include <optional>

namespace portcullis::proxy {

WorkerPool::WorkerPool(boost::asio::io_context& loop, std::string database_url, int threads)
    : loop_(loop), database_url_(std::move(database_url)), pool_(threads) {}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::stop() { pool_.join(); }

store::Database& WorkerPool::thread_database() {
  // One connection per worker thread: libpqxx connections are not thread-safe.
  thread_local std::optional<store::Database> database;
  if (!database) database.emplace(database_url_);
  return *database;
}

}  // namespace portcullis::proxy
