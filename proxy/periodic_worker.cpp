#include "proxy/periodic_worker.h"

#include <spdlog/spdlog.h>

namespace portcullis::proxy {

PeriodicWorker::PeriodicWorker(boost::asio::io_context& loop, std::string database_url,
                               std::string name, std::chrono::milliseconds interval)
    : name_(std::move(name)),
      interval_(interval),
      pool_(loop, std::move(database_url), 1),
      timer_(loop) {}

void PeriodicWorker::start(Pass pass) {
  pass_ = std::move(pass);
  schedule();
}

void PeriodicWorker::stop() {
  stopping_ = true;
  timer_.cancel();
}

void PeriodicWorker::join() { pool_.stop(); }

void PeriodicWorker::schedule() {
  if (stopping_) return;
  timer_.expires_after(interval_);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopping_) return;
    pool_.blocking(
        [this] {
          pass_();
          return true;
        },
        [this](const Outcome<bool>& outcome) {
          if (!outcome.ok()) {
            spdlog::warn("{}: {}; trying again in {} ms", name_, outcome.error, interval_.count());
          }
          schedule();
        });
  });
}

}  // namespace portcullis::proxy
