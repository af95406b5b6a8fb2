#include "web/live_view.h"

#include <nlohmann/json.hpp>

#include "common/common.h"

namespace portcullis::web {
namespace {

using nlohmann::json;

std::string dump(const json& value) {
  return value.dump(-1, ' ', true, json::error_handler_t::replace);
}

std::string status_text(const access::WatchedSession& watched) {
  const access::SessionRow& s = watched.session;
  return "session " + std::to_string(s.id) + ": " + s.user + " on " + s.target + ":" + s.login +
         ", grant " + std::to_string(s.grant_id) + " until " + format_rfc3339(watched.expires_at) +
         "; reason: " + one_line(watched.reason);
}

}  // namespace

LiveView::LiveView(pqxx::work& tx, const LiveGrant& grant, std::int64_t session_id,
                   const std::string& node)
    : user_(grant.session.user.name), csrf_(grant.session.csrf) {
  std::optional<access::WatchedSession> watched = access::find_watched_session(tx, session_id);
  if (!watched) throw access::AccessError("no session " + std::to_string(session_id));
  const access::ParticipantIdentity who{user_, grant.role, "user:" + user_};
  access::Participant participant = access::start_participating(
      tx, who, session_id, access::ParticipantMode::watch, node + " (web)");
  watcher_ =
      std::make_unique<oversight::Watcher>(std::move(participant), std::move(*watched), false);
}

LiveView::Tick LiveView::tick(pqxx::work& tx, std::chrono::steady_clock::time_point now) {
  Tick tick;
  const oversight::LookRequest request = watcher_->next_look(now);
  watcher_->apply(oversight::look(tx, request), now);
  const std::string status = status_text(watcher_->watched());
  if (status != last_status_) {
    last_status_ = status;
    tick.messages.push_back(dump({{"type", "status"}, {"text", status}}));
  }
  if (std::optional<player::Screen> screen = watcher_->screen()) {
    std::string message =
        dump({{"type", "screen"},
              {"cols", screen->cols},
              {"rows", screen->rows},
              {"lines", screen->lines},
              {"cursor", {{"row", screen->cursor_row}, {"col", screen->cursor_col}}}});
    if (message != last_screen_) {
      last_screen_ = message;
      tick.messages.push_back(std::move(message));
    }
  }
  if (!watcher_->problem().empty()) {
    tick.messages.push_back(dump({{"type", "end"}, {"text", inert_line(watcher_->problem())}}));
    tick.done = true;
  } else if (std::optional<std::string> finished = watcher_->finished(now)) {
    tick.messages.push_back(dump({{"type", "end"}, {"text", inert_line(*finished)}}));
    tick.done = true;
  }
  return tick;
}

void LiveView::leave(pqxx::work& tx) {
  if (left_) return;
  access::stop_participating(tx, watcher_->participant().id, "user:" + user_);
  left_ = true;
}

}  // namespace portcullis::web
