// Replay timing: the clock drives a playback position; idle gaps are shortened before the
// speed applies, so "2x with a 2 s idle limit" never waits more than 1 s.
#include <algorithm>
#include <cmath>
#include <cstdio>

#include "common/common.h"
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
  seek_to(options.from_us);
}

Replay::~Replay() = default;

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

std::optional<std::uint64_t> Replay::next_playback() {
  const recorder::Event* next = cursor_->peek();
  if (next == nullptr) return std::nullopt;
  return base_playback_ + shortened(next->at_us - std::min(next->at_us, base_at_), idle_limit_us_);
}

std::size_t Replay::advance() {
  const std::uint64_t now = playback_now();
  std::size_t applied = 0;
  for (auto due = next_playback(); due && *due <= now; due = next_playback(), ++applied) {
    const recorder::Event& event = *cursor_->peek();
    apply(*terminal_, event);
    if (event.kind == recorder::EventKind::marker) last_marker_ = event;
    base_at_ = std::max(base_at_, event.at_us);
    base_playback_ = *due;
    cursor_->pop();
  }
  return applied;
}

std::chrono::microseconds Replay::until_next() {
  if (paused_ || finished()) return microseconds::max();
  const std::uint64_t now = playback_now();
  const std::uint64_t due = next_playback().value_or(now);
  if (due <= now) return microseconds(0);
  return microseconds(
      static_cast<std::int64_t>(std::ceil(static_cast<double>(due - now) / speed_)));
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
  SeekResult sought = seeker_.seek(at_us);
  terminal_ = std::move(sought.terminal);
  cursor_ = std::move(sought.cursor);
  last_marker_ = std::move(sought.last_marker);
  base_at_ = at_us;
  base_playback_ = 0;
  restart_at(0);
}

void Replay::seek_by(std::int64_t delta_us) {
  const auto position = static_cast<std::int64_t>(position_us());
  seek_to(static_cast<std::uint64_t>(std::max<std::int64_t>(0, position + delta_us)));
}

std::uint64_t Replay::position_us() {
  const std::uint64_t now = playback_now();
  std::uint64_t at = base_at_ + (now > base_playback_ ? now - base_playback_ : 0);
  // Inside a shortened gap the position waits at its end rather than run past the next event.
  if (const recorder::Event* next = cursor_->peek()) at = std::min(at, next->at_us);
  return std::min(at, recording_.duration_us);
}

Screen Replay::screen() const { return terminal_->screen(); }

int Replay::cols() const { return terminal_->cols(); }

int Replay::rows() const { return terminal_->rows(); }

std::string Replay::paint() const { return terminal_->paint(); }

bool Replay::finished() const { return cursor_->peek() == nullptr; }

std::string Replay::recent_marker() {
  constexpr std::uint64_t kShownFor = 10'000'000;  // of recording time
  if (!last_marker_ || last_marker_->at_us + kShownFor < position_us()) return "";
  return last_marker_->data;
}

std::string Replay::status_line(const std::string& notice) {
  // Warnings, expiry, kill and exit status stay in view for a while after they happened.
  const std::string marker = recent_marker();
  char speed[16];
  std::snprintf(speed, sizeof speed, speed_ >= 1 ? "%.0fx" : "%.3gx", speed_);
  const recorder::Header& h = recording_.header;
  const std::string& problem =
      recording_.integrity.verified ? recording_.damage : recording_.integrity.problem;
  const std::string warning =
      recording_.integrity.verified && problem.empty() ? "" : "  [NOT VERIFIED: " + problem + "]";
  return std::string(paused_      ? "paused "
                     : finished() ? "end    "
                                  : "playing") +
         "  " + format_offset(position_us()) + " / " + format_offset(recording_.duration_us) +
         "  " + speed + inert_line(warning) + (notice.empty() ? "" : "  [" + notice + "]") +
         "  session " + std::to_string(h.session_id) + " " + inert_line(h.user) + "@" +
         inert_line(h.target) + (marker.empty() ? "" : "  [" + inert_line(marker) + "]") +
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
