// A browser watching a running session: the same watcher as `ssh -t auditor@bastion watch`
// (oversight::Watcher: audited, announced to the watched user, one database look per tick),
// with the screen sent as lines of plain text instead of a terminal's escape sequences, so
// nothing the watched session printed reaches the browser but text.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "oversight/watcher.h"
#include "web/api.h"

namespace portcullis::web {

class LiveView {
 public:
  // Starts watching `session_id` as `grant`'s user (audited session.watch_started, the
  // watched user told). Throws AccessError when there is no such running session.
  LiveView(pqxx::work& tx, const LiveGrant& grant, std::int64_t session_id,
           const std::string& node);

  // One look at the database and what it changed: messages for the browser (JSON texts), in
  // order. `done` is set once the view is over (the session ended and its last chunks came).
  struct Tick {
    std::vector<std::string> messages;
    bool done = false;
  };
  Tick tick(pqxx::work& tx, std::chrono::steady_clock::time_point now);
  // The watcher leaves (audited session.watch_stopped); once.
  void leave(pqxx::work& tx);

  const std::string& csrf() const { return csrf_; }
  std::int64_t participant_id() const { return watcher_->participant().id; }

 private:
  std::unique_ptr<oversight::Watcher> watcher_;
  std::string user_;
  std::string csrf_;
  std::string last_screen_;  // the last screen message sent
  std::string last_status_;
  bool left_ = false;
};

}  // namespace portcullis::web
