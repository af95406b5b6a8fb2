#include "oversight/watcher.h"

#include "common/common.h"

namespace portcullis::oversight {

WatchUpdate look(pqxx::work& tx, const LookRequest& request) {
  WatchUpdate update;
  update.database_now = access::database_now(tx);
  update.session = access::find_watched_session(tx, request.session_id);
  if (!update.session) return update;
  if (request.touch_participant) access::touch_participant(tx, *request.touch_participant);
  if (request.need_head) {
    update.head = recorder::load_head(tx, request.session_id);
    if (!update.head) return update;
  }
  update.chunks =
      recorder::load_chunk_records(tx, request.session_id, request.next_seq, kMaxReadPerLook);
  return update;
}

Watcher::Watcher(access::Participant participant, access::WatchedSession watched, bool may_kill)
    : participant_(std::move(participant)),
      watched_(std::move(watched)),
      may_kill_(may_kill),
      keys_(participant_.mode == access::ParticipantMode::join),
      last_touch_(std::chrono::steady_clock::now()) {}

LookRequest Watcher::next_look(std::chrono::steady_clock::time_point now) {
  LookRequest request{participant_.session_id, !screen_.has_value(),
                      screen_ ? screen_->next_seq() : 0, std::nullopt};
  if (now - last_touch_ >= access::kParticipantTouchEvery) {
    request.touch_participant = participant_.id;
    last_touch_ = now;
  }
  return request;
}

void Watcher::apply(WatchUpdate update, std::chrono::steady_clock::time_point now) {
  database_now_ = update.database_now;
  if (!update.session) {
    gone_ = true;
    if (!ended_seen_) ended_seen_ = now;
    return;
  }
  watched_ = std::move(*update.session);
  if (watched_.session.ended_at && !ended_seen_) ended_seen_ = now;
  if (!problem_.empty()) return;
  try {
    if (update.head && !screen_) screen_.emplace(std::move(*update.head));
  } catch (const recorder::RecordingError& e) {
    problem_ = std::string("the stored recording does not start like one: ") + e.what();
    return;
  }
  if (screen_ && !screen_->add(update.chunks.records)) problem_ = screen_->problem();
}

std::vector<player::WatchKeys::Action> Watcher::keys(std::string_view typed) {
  std::vector<player::WatchKeys::Action> actions = keys_.feed(typed);
  std::erase_if(actions, [this](const player::WatchKeys::Action& action) {
    if (action.kind != player::WatchKeys::Action::Kind::kill || may_kill_) return false;
    notice_ = "ending sessions takes a role in [oversight] kill_roles";
    return true;
  });
  return actions;
}

std::string Watcher::status_line() const {
  if (std::optional<std::string> prompt = keys_.prompt()) return *prompt;
  const access::SessionRow& s = watched_.session;
  player::LiveStatus status;
  status.session_id = s.id;
  status.user = s.user;
  status.target = s.target;
  status.login = s.login;
  status.grant_id = s.grant_id;
  status.reason = watched_.reason;
  if (gone_) {
    status.state = "GONE";
  } else if (s.ended_at) {
    status.state = "ENDED (" + (s.end_reason ? access::to_string(*s.end_reason) : "?") + ")";
  } else {
    status.state = participant_.mode == access::ParticipantMode::join ? "JOINED" : "LIVE";
    if (database_now_) {
      status.time_left =
          std::chrono::duration_cast<std::chrono::seconds>(watched_.expires_at - *database_now_);
    }
  }
  status.notice = !problem_.empty() ? problem_ : notice_;
  if (!screen_ && problem_.empty()) status.notice = "waiting for the session's first output";
  const bool joined = participant_.mode == access::ParticipantMode::join;
  status.keys = std::string(joined ? "^]q leave" : "q leave") + (may_kill_ ? "  ^]k end" : "");
  return player::live_status_line(status);
}

std::optional<std::string> Watcher::next_frame(int cols, int rows) {
  Frame frame{"", screen_ ? screen_->cols() : 0, screen_ ? screen_->rows() : 0, cols, rows};
  frame.text = player::compose_frame(screen_ ? screen_->paint() : "", frame.screen_rows, cols, rows,
                                     status_line(), !frame.same_sizes(drawn_));
  if (frame.text == drawn_.text && frame.same_sizes(drawn_)) return std::nullopt;
  offered_ = std::move(frame);
  return offered_.text;
}

void Watcher::frame_drawn() { drawn_ = offered_; }

std::optional<std::string> Watcher::finished(std::chrono::steady_clock::time_point now) const {
  if (!ended_seen_ || now - *ended_seen_ < kAfterEnd) return std::nullopt;
  const access::SessionRow& s = watched_.session;
  if (gone_) return "session " + std::to_string(participant_.session_id) + " is gone";
  return "session " + std::to_string(s.id) + " ended (" +
         (s.end_reason ? access::to_string(*s.end_reason) : "?") + ")";
}

const std::string& Watcher::problem() const { return problem_; }

std::optional<player::Screen> Watcher::screen() const {
  if (!screen_) return std::nullopt;
  return screen_->screen();
}

}  // namespace portcullis::oversight
