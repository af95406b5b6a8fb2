// Command alert rules ([[alert_rule]]) over a live session: a byte observer that reads the
// command lines off the session's screen as the player would (player::CommandFollower) and
// reports each one that a rule's pattern matches. The session decides what a match does
// (Session::on_command_match): the alert, the audit row, the recording's marker and, for
// action "terminate", the end of the session.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "access/alert_rules.h"
#include "player/player.h"
#include "proxy/byte_observer.h"

namespace portcullis::proxy {

// A command line that a rule matched.
struct CommandMatch {
  const AlertRule* rule = nullptr;
  std::string command;      // at most kMaxShownCommand bytes (cut on a character boundary)
  std::uint64_t at_us = 0;  // when Enter was pressed, on the recording's clock
};

// Longer command lines are cut to this in alerts, audit rows and markers (a wrapped line can
// be a whole screen); the rules see the whole line.
constexpr std::size_t kMaxShownCommand = 1024;

// Output drawn after a command before the follower stops drawing until the next key (see
// player::CommandFollower): a `cat` of a big file costs a screen's worth of drawing, not the
// file's. A few milliseconds of libvterm.
constexpr std::size_t kDrawBudget = std::size_t{256} << 10;

// Only a session on a target some rule watches gets one (rules_watching), so a session
// without rules pays nothing; one with rules pays the drawing of its output on a terminal, at
// most kDrawBudget bytes of it after each command.
class CommandAlerts final : public ByteObserver {
 public:
  using OnMatch = std::function<void(const CommandMatch& match)>;

  // `cols` and `rows` as the session started (0 without a pty). `on_match` is called on the
  // loop, inside the bridge's publishing of the bytes that completed the line: it must not end
  // the session there (defer that).
  CommandAlerts(std::vector<AlertRule> rules, int cols, int rows, OnMatch on_match);

  // ByteObserver
  void bytes(Stream stream, std::string_view data) override;
  void resize(int cols, int rows) override;
  void exec(const std::string& command_line) override;

 private:
  void follow(recorder::EventKind kind, std::string_view data);
  void check(const player::Command& command) const;
  std::uint64_t elapsed_us() const;

  std::vector<AlertRule> rules_;
  OnMatch on_match_;
  player::CommandFollower follower_;
  // The recording's clock starts as this observer is made, with the recording.
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  recorder::Event event_;  // reused for every event: its buffer keeps its capacity
};

// The rules of `rules` that watch `target`, in file order.
std::vector<AlertRule> rules_watching(const std::vector<AlertRule>& rules, std::string_view target);

// The marker a match leaves in the recording: "alert_rule NAME: COMMAND", inert (a command line
// may hold escapes) and bounded.
std::string command_marker(const CommandMatch& match);

}  // namespace portcullis::proxy
