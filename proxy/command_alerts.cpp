#include "proxy/command_alerts.h"

#include <algorithm>
#include <utility>

#include "common/common.h"
#include "proxy/recording_observer.h"

namespace portcullis::proxy {
namespace {

// The first `limit` bytes of `text`, not splitting a UTF-8 character.
std::string cut_to(std::string_view text, std::size_t limit) {
  if (text.size() <= limit) return std::string(text);
  std::size_t end = limit;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

}  // namespace

CommandAlerts::CommandAlerts(std::vector<AlertRule> rules, int cols, int rows, OnMatch on_match)
    : rules_(std::move(rules)),
      on_match_(std::move(on_match)),
      follower_(
          cols, rows, [this](const player::Command& command) { check(command); }, kDrawBudget) {}

void CommandAlerts::bytes(Stream stream, std::string_view data) {
  follow(event_kind(stream), data);
}

void CommandAlerts::resize(int cols, int rows) {
  event_.kind = recorder::EventKind::resize;
  event_.at_us = elapsed_us();
  event_.data.clear();
  event_.cols = static_cast<std::uint16_t>(cols);
  event_.rows = static_cast<std::uint16_t>(rows);
  follower_.on_event(event_);
}

void CommandAlerts::exec(const std::string& command_line) {
  follow(recorder::EventKind::exec, command_line);
}

void CommandAlerts::follow(recorder::EventKind kind, std::string_view data) {
  event_.kind = kind;
  event_.at_us = elapsed_us();
  event_.data.assign(data);
  follower_.on_event(event_);
}

void CommandAlerts::check(const player::Command& command) const {
  for (const AlertRule& rule : rules_) {
    if (rule.matches(command.line)) {
      on_match_({&rule, cut_to(command.line, kMaxShownCommand), command.at_us});
    }
  }
}

std::uint64_t CommandAlerts::elapsed_us() const {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - started_)
                                        .count());
}

std::vector<AlertRule> rules_watching(const std::vector<AlertRule>& rules,
                                      std::string_view target) {
  std::vector<AlertRule> watching;
  std::copy_if(rules.begin(), rules.end(), std::back_inserter(watching),
               [&](const AlertRule& rule) { return rule.watches(target); });
  return watching;
}

std::string command_marker(const CommandMatch& match) {
  return "alert_rule " + inert_line(match.rule->name) + ": " + inert_line(match.command);
}

}  // namespace portcullis::proxy
