// A watcher of a running session, wherever it sits: one look at the database per tick (what
// was shipped since the last look, the session's state and its grant's end), and the frames
// and key actions of its terminal. The CLI drives it from a blocking loop, the daemon from its
// event loop and worker threads; neither knows the other.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "access/oversight.h"
#include "player/live.h"
#include "recorder/postgres_store.h"

namespace portcullis::oversight {

// How often a watcher looks, and how much one look reads (a watcher joining a long session
// catches up in slices, drawing in between).
inline constexpr std::chrono::milliseconds kWatchTick{100};
inline constexpr std::size_t kMaxReadPerLook = std::size_t{4} << 20;
// After the session ended, the last chunks are shipped within this; then the watch ends.
inline constexpr std::chrono::milliseconds kAfterEnd{2500};

// What one look found.
struct WatchUpdate {
  std::optional<access::WatchedSession> session;  // nullopt: the session is gone
  std::optional<std::string> head;                // when it was asked for and is stored
  recorder::ChunkRecords chunks;
  access::TimePoint database_now;
};

struct LookRequest {
  std::int64_t session_id = 0;
  bool need_head = true;
  std::uint64_t next_seq = 0;
  std::optional<std::int64_t> touch_participant;  // refreshes its seen_at when set
};
WatchUpdate look(pqxx::work& tx, const LookRequest& request);

class Watcher {
 public:
  // `may_kill`: the watcher holds a role that may end sessions (Ctrl-] k).
  Watcher(access::Participant participant, access::WatchedSession watched, bool may_kill);

  // What the next look should ask for. `now` (steady) paces the participant's refresh.
  LookRequest next_look(std::chrono::steady_clock::time_point now);
  // Applies a look's result.
  void apply(WatchUpdate update, std::chrono::steady_clock::time_point now);
  // The keys typed, as actions; a kill without the role becomes a notice instead.
  std::vector<player::WatchKeys::Action> keys(std::string_view typed);
  void set_notice(std::string notice) { notice_ = std::move(notice); }

  // A whole frame for a viewer's terminal of `cols` x `rows` (0x0: unknown), or nullopt when it
  // would be the one drawn last. Call frame_drawn() once it is written: a caller that could not
  // write it (a full SSH window) asks again later, and the next frame still clears the screen
  // after a resize.
  std::optional<std::string> next_frame(int cols, int rows);
  void frame_drawn();
  // The session ended (or is gone) and its last chunks had time to arrive: leave, saying this.
  std::optional<std::string> finished(std::chrono::steady_clock::time_point now) const;
  // A view that cannot go on (the recording does not continue): the reason, else "".
  const std::string& problem() const;
  // The watched screen as text (the web console draws it itself), once its head has arrived.
  std::optional<player::Screen> screen() const;

  const access::Participant& participant() const { return participant_; }
  const access::WatchedSession& watched() const { return watched_; }

 private:
  std::string status_line() const;

  const access::Participant participant_;
  access::WatchedSession watched_;
  const bool may_kill_;
  player::WatchKeys keys_;
  std::optional<player::LiveScreen> screen_;
  std::optional<access::TimePoint> database_now_;
  std::optional<std::chrono::steady_clock::time_point> ended_seen_;
  std::chrono::steady_clock::time_point last_touch_;
  std::string notice_;
  std::string problem_;
  bool gone_ = false;
  // A frame, and the sizes it is drawn for: a change of either size clears the viewer's screen.
  struct Frame {
    std::string text;
    int screen_cols = -1, screen_rows = -1, viewer_cols = -1, viewer_rows = -1;
    bool same_sizes(const Frame& other) const {
      return screen_cols == other.screen_cols && screen_rows == other.screen_rows &&
             viewer_cols == other.viewer_cols && viewer_rows == other.viewer_rows;
    }
  };
  Frame drawn_;    // the last frame written
  Frame offered_;  // the last frame next_frame() returned
};

}  // namespace portcullis::oversight
