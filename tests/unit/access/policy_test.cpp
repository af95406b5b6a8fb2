#include "access/policy.h"

#include <gtest/gtest.h>

#include "proxy/control.h"
#include "settings/settings.h"
#include "tests/support/temp_dir.h"

namespace portcullis {
namespace {

TEST(Glob, MatchesLikeAShell) {
  using access::glob_match;
  EXPECT_TRUE(glob_match("db*", "db01"));
  EXPECT_TRUE(glob_match("db*", "db"));
  EXPECT_FALSE(glob_match("db*", "xdb01"));
  EXPECT_TRUE(glob_match("pay-?", "pay-1"));
  EXPECT_FALSE(glob_match("pay-?", "pay-12"));
  EXPECT_TRUE(glob_match("web[0-9][0-9]", "web07"));
  EXPECT_FALSE(glob_match("web[!0]*", "web0"));
  EXPECT_TRUE(glob_match("*", ""));
  EXPECT_TRUE(glob_match("*-prod-*", "eu-prod-db"));
  EXPECT_FALSE(glob_match("", "x"));
}

access::Policy policy_from(const Config& config) { return {config.policies, config.file}; }

class PolicyTest : public ::testing::Test {
 protected:
  Config config_for(const std::string& rules) {
    return load_config(
        dir_.write("portcullis.toml", "[database]\nurl = \"postgresql:///x\"\n" + rules));
  }

  std::string compile_error(const std::string& rules) {
    try {
      access::Policy policy = policy_from(config_for(rules));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "compiled";
  }

  test::TempDir dir_;
};

TEST_F(PolicyTest, FirstMatchingRuleWinsAndRolesMatter) {
  const access::Policy policy = policy_from(config_for(R"(
[[policy]]
name = "ops"
targets = ["db*"]
roles = ["sre"]
approval = "auto"

[[policy]]
name = "dev"
targets = ["db*", "web*"]
roles = ["dev"]
approval = "dual"
approver_roles = ["approver"]
mfa = ["approve"]
)"));
  ASSERT_NE(policy.match({"sre", "dev"}, "db1"), nullptr);
  EXPECT_EQ(policy.match({"sre", "dev"}, "db1")->config.name, "ops");
  EXPECT_EQ(policy.match({"dev"}, "db1")->config.name, "dev");
  EXPECT_EQ(policy.match({"dev"}, "db1")->approvals_needed(), 2);
  EXPECT_EQ(policy.match({"qa"}, "db1"), nullptr);
  EXPECT_EQ(policy.match({"sre"}, "cache1"), nullptr);
  EXPECT_TRUE(policy.control_login_needs_mfa({"approver"}));
  EXPECT_FALSE(policy.control_login_needs_mfa({"dev"}));
}

TEST_F(PolicyTest, CompileErrorsNameTheLine) {
  const std::string file = (dir_.path() / "portcullis.toml").string();
  EXPECT_EQ(compile_error("[[policy]]\nname = \"p\"\ntargets = [\"*\"]\nticket_pattern = \"(\"\n"
                          "approval = \"auto\"\n"),
            file +
                ":6: 'ticket_pattern' in [[policy]] \"p\" is not a valid RE2 regular expression: "
                "missing ): ( (RE2 has no backreferences or lookarounds; see docs/policy.md)");
  EXPECT_EQ(compile_error("[[policy]]\nname = \"p\"\ntargets = [\"*\"]\n"),
            file + ":3: [[policy]] \"p\" asks for single approval but names no approver_roles");
  EXPECT_EQ(compile_error("[[policy]]\nname = \"p\"\ntargets = [\"*\"]\napproval = \"auto\"\n"
                          "[[policy]]\nname = \"p\"\ntargets = [\"x\"]\napproval = \"auto\"\n"),
            file + ":7: [[policy]] name \"p\" is used by an earlier rule");
  const std::string hours = compile_error(
      "[[policy]]\nname = \"p\"\ntargets = [\"*\"]\napproval = \"auto\"\nhours = \"Mon-Fri\"\n");
  EXPECT_TRUE(hours.starts_with(file + ":7: 'hours' in [[policy]] \"p\": ")) << hours;
}

// std::regex recursed once per character and overflowed the stack near 50,000 characters;
// RE2 answers in time linear in the ticket, whatever the pattern.
TEST_F(PolicyTest, TicketPatternsCannotBlowUp) {
  const access::Policy policy =
      policy_from(config_for("[[policy]]\nname = \"p\"\ntargets = [\"*\"]\napproval = \"auto\"\n"
                             "ticket_pattern = \"^(CHG|INC)-[0-9]+$\"\n"
                             "[[policy]]\nname = \"q\"\ntargets = [\"x\"]\napproval = \"auto\"\n"
                             "ticket_pattern = \"(a+)+$\"\n"));
  const access::CompiledRule& plain = policy.rules()[0];
  EXPECT_TRUE(plain.ticket_matches("CHG-1234"));
  EXPECT_FALSE(plain.ticket_matches("CHG-1234x"));
  EXPECT_FALSE(plain.ticket_matches("JIRA-1"));
  EXPECT_TRUE(plain.ticket_matches("INC-" + std::string(1'000'000, '7')));
  EXPECT_FALSE(plain.ticket_matches("INC-" + std::string(1'000'000, '7') + "x"));
  // Catastrophic backtracking for a backtracking engine; nothing special for RE2.
  EXPECT_FALSE(policy.rules()[1].ticket_matches(std::string(100'000, 'a') + "!"));
  EXPECT_TRUE(access::CompiledRule{}.ticket_matches("anything"));
}

TEST_F(PolicyTest, PatternsRE2CannotRunAreRefusedAtLoad) {
  const std::string error = compile_error(
      "[[policy]]\nname = \"p\"\ntargets = [\"*\"]\napproval = \"auto\"\n"
      "ticket_pattern = \"^(CHG)-\\\\1$\"\n");
  EXPECT_NE(error.find(":7: 'ticket_pattern' in [[policy]] \"p\" is not a valid RE2 regular "
                       "expression: "),
            std::string::npos)
      << error;
}

TEST(FreeText, LengthAndEncodingAreCheckedFirst) {
  using access::check_free_text;
  EXPECT_NO_THROW(check_free_text("INC-4211 disk full", "--reason", 1000));
  EXPECT_NO_THROW(check_free_text("", "--comment", 1000, false));
  EXPECT_NO_THROW(check_free_text(std::string(1000, 'x'), "--reason", 1000));
  // Characters, not bytes: 1000 two-byte characters are fine.
  std::string accents;
  for (int i = 0; i < 1000; ++i) accents += "\xc3\xa9";
  EXPECT_NO_THROW(check_free_text(accents, "--reason", 1000));
  // Controls are kept (and shown inert later).
  EXPECT_NO_THROW(check_free_text("\x1b[2J redraw", "--reason", 1000));
  auto message = [](std::string_view text, std::size_t limit, bool required = true) {
    try {
      check_free_text(text, "--reason", limit, required);
    } catch (const access::AccessError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message("", 1000), "--reason must not be empty");
  EXPECT_EQ(message(std::string(1001, 'x'), 1000), "--reason is longer than 1000 characters");
  EXPECT_EQ(message(std::string(1'000'000, 'x'), 128), "--reason is longer than 128 characters");
  EXPECT_EQ(message("bad \xff byte", 1000), "--reason is not valid UTF-8 text");
  EXPECT_EQ(message(std::string("nul\0inside", 11), 1000),
            "--reason must not contain a NUL character");
}

TEST(ExamplePolicy, Compiles) {
  const auto example = std::filesystem::path(PORTCULLIS_SOURCE_DIR) / "config" / "portcullis.toml";
  const access::Policy policy = policy_from(load_config(example));
  ASSERT_EQ(policy.rules().size(), 2u);
  ASSERT_TRUE(policy.rules()[0].hours);
  EXPECT_EQ(policy.rules()[0].hours->zone, "Europe/Paris");
  EXPECT_EQ(policy.match({"dev"}, "pay-eu")->config.name, "prod-db");
  EXPECT_EQ(policy.match({"dev"}, "stg-web")->config.name, "staging");
}

TEST(SplitCommandLine, QuotesLikeAShell) {
  using proxy::split_command_line;
  using Words = std::vector<std::string>;
  EXPECT_EQ(split_command_line("request db01 --for 2h"), (Words{"request", "db01", "--for", "2h"}));
  EXPECT_EQ(split_command_line("  a   'b c'  \"d \\\"e\\\" \\\\ $x\" f\\ g "),
            (Words{"a", "b c", "d \"e\" \\ $x", "f g"}));
  EXPECT_EQ(split_command_line("x''y \"\""), (Words{"xy", ""}));
  EXPECT_EQ(split_command_line(""), Words{});
  EXPECT_THROW(split_command_line("a 'b"), std::invalid_argument);
  EXPECT_THROW(split_command_line("a \"b"), std::invalid_argument);
  EXPECT_THROW(split_command_line("a \\"), std::invalid_argument);
}

}  // namespace
}  // namespace portcullis
