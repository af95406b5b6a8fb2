// Replay timing: the clock drives a playback position; idle gaps are shortened before the
// speed applies, so "2x with a 2 s idle limit" never waits more than 1 s.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "player/terminal.h"

namespace portcullis::player {
namespace {

using std::chrono::microseconds;

std::uint64_t shortened(std::uint64_t gap, const std::optional<std::uint64_t>& limit) {
  return limit ? std::min(gap, *limit) : gap;
}

}  // namespace

Replay::Replay(const Recording& recording, const Seeker& seeker, ReplayOptions options,
               ReplayClock& clock)
    : recording_(recording),
      seeker_(seeker),
      clock_(clock),
      idle_limit_us_(options.idle_limit_us),
      speed_(std::clamp(options.speed, 1 / kMaxSpeed, kMaxSpeed)) {
  std::uint64_t previous_at = 0, playback = 0;
  for (const recorder::Event& event : recording.events) {
    playback += shortened(event.at_us - previous_at, idle_limit_us_);
    previous_at = event.at_us;
    playback_us_.push_back(playback);
  }
  seek_to(options.from_us);
}

Replay::~Replay() = default;

std::uint64_t Replay::playback_of(std::uint64_t at_us) const {
  const auto& events = recording_.events;
  const auto after =
      std::upper_bound(events.begin(), events.end(), at_us,
                       [](std::uint64_t t, const recorder::Event& e) { return t < e.at_us; });
  if (after == events.begin()) return shortened(at_us, idle_limit_us_);
  const auto last = static_cast<std::size_t>(after - events.begin()) - 1;
  return playback_us_[last] + shortened(at_us - events[last].at_us, idle_limit_us_);
}

std::uint64_t Replay::recording_of(std::uint64_t playback_us) const {
  const auto after = std::upper_bound(playback_us_.begin(), playback_us_.end(), playback_us);
  if (after == playback_us_.begin()) return playback_us;
  const auto last = static_cast<std::size_t>(after - playback_us_.begin()) - 1;
  const std::uint64_t at = recording_.events[last].at_us + (playback_us - playback_us_[last]);
  // Inside a shortened gap the position waits at its end rather than run past the next event.
  return after == playback_us_.end() ? at : std::min(at, recording_.events[last + 1].at_us);
}

std::uint64_t Replay::playback_now() {
  if (paused_) return anchor_playback_;
  const auto elapsed =
      std::chrono::duration_cast<microseconds>(clock_.now() - anchor_time_).count();
  return anchor_playback_ + static_cast<std::uint64_t>(static_cast<double>(elapsed) * speed_);
}

void Replay::restart_at(std::uint64_t playback_us) {
  anchor_playback_ = playback_us;
  anchor_time_ = clock_.now();
}

std::size_t Replay::advance() {
  const std::uint64_t now = playback_now();
  std::size_t applied = 0;
  for (; next_ < playback_us_.size() && playback_us_[next_] <= now; ++next_, ++applied) {
    apply(*terminal_, recording_.events[next_]);
  }
  return applied;
}

std::chrono::microseconds Replay::until_next() {
  if (paused_ || finished()) return microseconds::max();
  const std::uint64_t now = playback_now();
  if (playback_us_[next_] <= now) return microseconds(0);
  return microseconds(static_cast<std::int64_t>(
      std::ceil(static_cast<double>(playback_us_[next_] - now) / speed_)));
}

void Replay::toggle_pause() {
  restart_at(playback_now());
  paused_ = !paused_;
}

void Replay::faster() {
  restart_at(playback_now());
  speed_ = std::min(speed_ * 2, kMaxSpeed);
}

void Replay::slower() {
  restart_at(playback_now());
  speed_ = std::max(speed_ / 2, 1 / kMaxSpeed);
}

void Replay::seek_to(std::uint64_t at_us) {
  at_us = std::min(at_us, recording_.duration_us);
  terminal_ = seeker_.terminal_at(at_us, next_);
  restart_at(playback_of(at_us));
}

void Replay::seek_by(std::int64_t delta_us) {
  const auto position = static_cast<std::int64_t>(position_us());
  seek_to(static_cast<std::uint64_t>(std::max<std::int64_t>(0, position + delta_us)));
}

std::uint64_t Replay::position_us() {
  return std::min(recording_of(playback_now()), recording_.duration_us);
}

Screen Replay::screen() const { return terminal_->screen(); }

int Replay::cols() const { return terminal_->cols(); }

int Replay::rows() const { return terminal_->rows(); }

std::string Replay::paint() const { return terminal_->paint(); }

bool Replay::finished() const { return next_ >= playback_us_.size(); }

std::string Replay::recent_marker() {
  constexpr std::uint64_t kShownFor = 10'000'000;  // of recording time
  const std::uint64_t now = position_us();
  for (std::size_t i = next_; i-- > 0 && recording_.events[i].at_us + kShownFor >= now;) {
    if (recording_.events[i].kind == recorder::EventKind::marker) return recording_.events[i].data;
  }
  return "";
}

std::string Replay::status_line(const std::string& notice) {
  // Warnings, expiry, kill and exit status stay in view for a while after they happened.
  const std::string marker = recent_marker();
  char speed[16];
  std::snprintf(speed, sizeof speed, speed_ >= 1 ? "%.0fx" : "%.3gx", speed_);
  const recorder::Header& h = recording_.header;
  return std::string(paused_      ? "paused "
                     : finished() ? "end    "
                                  : "playing") +
         "  " + format_offset(position_us()) + " / " + format_offset(recording_.duration_us) +
         "  " + speed + (notice.empty() ? "" : "  [" + notice + "]") + "  session " +
         std::to_string(h.session_id) + " " + h.user + "@" + h.target +
         (marker.empty() ? "" : "  [" + marker + "]") +
         "  [space] pause  [+/-] speed  [<-/->] 5s  [up/down] 60s  [g] go to  [q] quit";
}

std::string size_notice(int viewer_cols, int viewer_rows, int recorded_cols, int recorded_rows) {
  if (viewer_cols >= recorded_cols && viewer_rows >= recorded_rows) return "";
  const auto size = [](int cols, int rows) {
    return std::to_string(cols) + "x" + std::to_string(rows);
  };
  return "terminal " + size(viewer_cols, viewer_rows) + " smaller than recorded " +
         size(recorded_cols, recorded_rows);
}

}  // namespace portcullis::player
