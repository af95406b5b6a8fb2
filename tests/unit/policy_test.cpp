#include "access/policy.h"

#include <gtest/gtest.h>

#include "proxy/control.h"
#include "tests/unit/temp_dir.h"

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

class PolicyTest : public ::testing::Test {
 protected:
  Config config_for(const std::string& rules) {
    return load_config(
        dir_.write("portcullis.toml", "[database]\nurl = \"postgresql:///x\"\n" + rules));
  }

  std::string compile_error(const std::string& rules) {
    try {
      access::Policy policy(config_for(rules));
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "compiled";
  }

  test::TempDir dir_;
};

TEST_F(PolicyTest, FirstMatchingRuleWinsAndRolesMatter) {
  const access::Policy policy(config_for(R"(
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
                ":6: 'ticket_pattern' in [[policy]] \"p\" is not a valid regular expression: "
                "Mismatched '(' and ')' in regular expression");
  EXPECT_EQ(compile_error("[[policy]]\nname = \"p\"\ntargets = [\"*\"]\n"),
            file + ":3: [[policy]] \"p\" asks for single approval but names no approver_roles");
  EXPECT_EQ(compile_error("[[policy]]\nname = \"p\"\ntargets = [\"*\"]\napproval = \"auto\"\n"
                          "[[policy]]\nname = \"p\"\ntargets = [\"x\"]\napproval = \"auto\"\n"),
            file + ":7: [[policy]] name \"p\" is used by an earlier rule");
  const std::string hours = compile_error(
      "[[policy]]\nname = \"p\"\ntargets = [\"*\"]\napproval = \"auto\"\nhours = \"Mon-Fri\"\n");
  EXPECT_TRUE(hours.starts_with(file + ":7: 'hours' in [[policy]] \"p\": ")) << hours;
}

TEST(ExamplePolicy, Compiles) {
  const auto example = std::filesystem::path(PORTCULLIS_SOURCE_DIR) / "config" / "portcullis.toml";
  const access::Policy policy(load_config(example));
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
