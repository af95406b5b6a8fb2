#include "proxy/command_alerts.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "settings/settings.h"

namespace portcullis::proxy {
namespace {

// Two rules as an administrator writes them, read through the real config loader.
std::vector<AlertRule> rules() {
  return load_config_text(
             "[database]\nurl = \"postgresql:///p\"\n"
             "[[alert_rule]]\nname = \"wipe\"\ntargets = [\"db*\"]\nmatch = \"rm -rf /\"\n"
             "[[alert_rule]]\nname = \"web\"\ntargets = [\"web*\"]\nmatch = \".\"\n",
             "/etc/portcullis/portcullis.toml")
      .alert_rules;
}

// Only the rules for the session's target come along: a session elsewhere adds no observer.
TEST(CommandAlerts, KeepsOnlyTheRulesWatchingTheTarget) {
  const std::vector<AlertRule> watching = rules_watching(rules(), "db01");
  ASSERT_EQ(watching.size(), 1u);
  EXPECT_EQ(watching[0].name, "wipe");
  EXPECT_TRUE(rules_watching(rules(), "mail01").empty());
}

// The line is read at the echo of Enter, however the bytes were cut; exec lines match too.
TEST(CommandAlerts, ReportsTheLineAsTheShellShowsItAndExecLines) {
  std::vector<std::string> matched;
  CommandAlerts alerts(rules_watching(rules(), "db01"), 80, 24,
                       [&](const CommandMatch& match) { matched.push_back(match.command); });
  alerts.bytes(Stream::output, "$ ");
  alerts.bytes(Stream::input, "sudo rm -rf /x");
  alerts.bytes(Stream::output, "sudo rm -rf /x");
  alerts.bytes(Stream::input, "\x7f\r");
  alerts.bytes(Stream::output, "\b \b");
  EXPECT_TRUE(matched.empty());  // Enter pressed, the echo not back yet
  alerts.bytes(Stream::output, "\r\n");
  alerts.exec("ls; rm -rf / ");
  alerts.exec("ls");
  EXPECT_EQ(matched, (std::vector<std::string>{"sudo rm -rf /", "ls; rm -rf / "}));
}

// A marker holds no escape a player's terminal would obey, and no more than kMaxShownCommand.
TEST(CommandAlerts, MarkersAreInertAndBounded) {
  std::vector<CommandMatch> matched;
  CommandAlerts alerts(rules_watching(rules(), "db01"), 80, 24,
                       [&](const CommandMatch& match) { matched.push_back(match); });
  alerts.exec("rm -rf / \x1b]52;c;AAAA\x07" + std::string(5000, 'x'));
  ASSERT_EQ(matched.size(), 1u);
  EXPECT_EQ(matched[0].command.size(), kMaxShownCommand);
  const std::string marker = command_marker(matched[0]);
  EXPECT_EQ(marker.rfind("alert_rule wipe: rm -rf / \\x1b]52;c;AAAA\\x07xxx", 0), 0u) << marker;
  EXPECT_EQ(marker.find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace portcullis::proxy
