// `ssh -t auditor@bastion watch ID` (and `join`): this connection shows another session live,
// from whichever node holds it. Every tick a worker reads what was shipped to PostgreSQL since
// the last look (oversight::look); the screen is rendered here through libvterm and drawn whole
// on the watcher's terminal, so nothing the watched session prints reaches it unfiltered, and a
// slow watcher only skips frames, never holds anything back.
#include <spdlog/spdlog.h>

#include "proxy/session.h"

namespace portcullis::proxy {
namespace {

constexpr std::size_t kMaxJoinOutbox = std::size_t{64} * 1024;

}  // namespace

void Session::begin_watching(WatchFollowUp watch) {
  phase_ = Phase::watching;
  login_timer_.cancel();
  spdlog::info("conn={} user={} {} session {}", connection_id_, user_,
               access::to_string(watch.participant.mode), watch.participant.session_id);
  watcher_ = std::make_unique<oversight::Watcher>(std::move(watch.participant),
                                                  std::move(watch.watched), watch.may_kill);
  ssh_channel_write(client_channel_, player::kEnterView.data(),
                    static_cast<uint32_t>(player::kEnterView.size()));
  look_at_watched();
}

void Session::arm_watch_look(std::chrono::milliseconds delay) {
  watch_timer_.expires_after(delay);
  watch_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->phase_ != Phase::watching) return;
    self->guarded("watch look", [&] { self->look_at_watched(); });
    self->pump();
  });
}

void Session::look_at_watched() {
  // One look at a time: the next is armed only when this one has come back.
  if (!watcher_) return;
  const oversight::LookRequest request = watcher_->next_look(std::chrono::steady_clock::now());
  context_.workers.transact([request](pqxx::work& tx) { return oversight::look(tx, request); },
                            [self = shared_from_this()](Outcome<oversight::WatchUpdate> outcome) {
                              self->guarded("watch look",
                                            [&] { self->on_watch_look(std::move(outcome)); });
                              self->pump();
                            });
}

void Session::on_watch_look(Outcome<oversight::WatchUpdate> outcome) {
  if (phase_ != Phase::watching || !watcher_) return;
  const auto now = std::chrono::steady_clock::now();
  if (outcome.ok()) {
    watcher_->apply(std::move(*outcome.value), now);
  } else {
    // The database went away for a moment: keep the last screen and say so.
    watcher_->set_notice(outcome.database_unavailable ? "the database is unreachable"
                                                      : "cannot read the session");
  }
  draw_watch();
  if (std::optional<std::string> done = watcher_->finished(now)) {
    return end_watching("portcullis: " + *done + "\n", 0);
  }
  arm_watch_look(oversight::kWatchTick);
}

// Keys from the watcher: `q` leaves, Ctrl-] k ends the watched session; joined, the rest is
// typed into it.
void Session::read_while_watching() {
  if (client_channel_ == nullptr || !watcher_) return;
  char buffer[512];
  for (;;) {
    const int read = ssh_channel_read_nonblocking(client_channel_, buffer, sizeof buffer, 0);
    if (read <= 0) break;
    for (const player::WatchKeys::Action& action :
         watcher_->keys(std::string_view(buffer, static_cast<std::size_t>(read)))) {
      on_watch_action(action);
      if (phase_ != Phase::watching) return;
    }
  }
  if (ssh_channel_is_eof(client_channel_)) return end_watching("", 0);
  draw_watch();  // a prompt being typed shows at once
}

void Session::on_watch_action(const player::WatchKeys::Action& action) {
  using Kind = player::WatchKeys::Action::Kind;
  if (action.kind == Kind::quit) return end_watching("", 0);
  if (action.kind == Kind::type) {
    // A joiner typing faster than the database takes it loses keys past this, not memory.
    if (join_outbox_.size() + action.text.size() <= kMaxJoinOutbox) join_outbox_ += action.text;
    return send_joined_keys();
  }
  if (action.kind != Kind::kill) return;
  const std::int64_t id = watcher_->participant().session_id;
  context_.workers.transact(
      [id, actor = "user:" + user_, reason = action.text](pqxx::work& tx) {
        access::request_session_kill(tx, actor, id, reason);
        return true;
      },
      [self = shared_from_this()](const Outcome<bool>& outcome) {
        if (self->phase_ != Phase::watching || !self->watcher_) return;
        self->watcher_->set_notice(outcome.ok() ? "asked the bastion to end the session"
                                                : "cannot end the session: " + outcome.error);
        self->guarded("watch kill", [&] { self->draw_watch(); });
        self->pump();
      });
}

// Keys go in the order typed: one send at a time, what was typed meanwhile in the next.
void Session::send_joined_keys() {
  if (join_send_running_ || join_outbox_.empty() || !watcher_) return;
  join_send_running_ = true;
  const std::size_t size = std::min(join_outbox_.size(), access::kMaxJoinedKeys);
  std::string keys = join_outbox_.substr(0, size);
  join_outbox_.erase(0, size);
  context_.workers.transact(
      [participant = watcher_->participant().id, keys = std::move(keys)](pqxx::work& tx) {
        access::send_joined_input(tx, participant, keys);
        return true;
      },
      [self = shared_from_this()](const Outcome<bool>& outcome) {
        self->join_send_running_ = false;
        if (self->phase_ != Phase::watching || !self->watcher_) return;
        self->guarded("joined keys", [&] {
          if (!outcome.ok()) {
            self->watcher_->set_notice("your keys did not reach the session: " + outcome.error);
            self->join_outbox_.clear();
          }
          self->send_joined_keys();
        });
        self->pump();
      });
}

// Whole frames only, and only when the client's window takes one: a watcher that reads slowly
// sees fewer frames, never a torn one.
void Session::draw_watch() {
  if (!watcher_ || client_channel_ == nullptr || !ssh_channel_is_open(client_channel_)) return;
  const int cols = setup_.pty ? setup_.pty->cols : 0;
  const int rows = setup_.pty ? setup_.pty->rows : 0;
  const std::optional<std::string> frame = watcher_->next_frame(cols, rows);
  if (!frame || ssh_channel_window_size(client_channel_) < frame->size()) return;
  ssh_channel_write(client_channel_, frame->data(), static_cast<uint32_t>(frame->size()));
  watcher_->frame_drawn();
}

void Session::end_watching(const std::string& message, int exit_status) {
  watch_timer_.cancel();
  ssh_channel_write(client_channel_, player::kLeaveView.data(),
                    static_cast<uint32_t>(player::kLeaveView.size()));
  leave_watched();
  end_control(message, exit_status);
}

// The watched user is told the watcher left, whatever ended the view (q, the session's end, a
// dropped connection).
void Session::leave_watched() {
  if (!watcher_) return;
  const std::int64_t participant = watcher_->participant().id;
  watcher_.reset();
  context_.workers.transact(
      [participant, actor = "user:" + user_](pqxx::work& tx) {
        access::stop_participating(tx, participant, actor);
        return true;
      },
      [participant](const Outcome<bool>& outcome) {
        if (!outcome.ok()) {
          spdlog::warn(
              "participant {} could not be marked as gone ({}); it stops counting once "
              "stale",
              participant, outcome.error);
        }
      });
}

}  // namespace portcullis::proxy
