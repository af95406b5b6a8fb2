#include "proxy/login_name.h"

#include <gtest/gtest.h>

namespace portcullis::proxy {
namespace {

// A bare user name selects control commands.
TEST(LoginName, UserAlone) {
  auto name = parse_login_name("alice");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->user, "alice");
  EXPECT_EQ(name->target, "");
  EXPECT_EQ(name->login, "");
}

TEST(LoginName, UserAndTarget) {
  auto name = parse_login_name("alice:db01");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->user, "alice");
  EXPECT_EQ(name->target, "db01");
  EXPECT_EQ(name->login, "");
}

TEST(LoginName, UserTargetAndLogin) {
  auto name = parse_login_name("alice:db01:postgres");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->target, "db01");
  EXPECT_EQ(name->login, "postgres");
}

// Empty parts, extra separators and characters that could forge log lines are refused.
TEST(LoginName, RejectsMalformed) {
  for (const char* bad : {"", ":db01", "alice:", "alice::x", "a:b:c:d", "alice:db 01",
                          "alice\n:db01", "alice:db01;rm", "alice:../etc"}) {
    EXPECT_FALSE(parse_login_name(bad)) << bad;
  }
}

TEST(LoginName, RejectsOverlongParts) {
  EXPECT_FALSE(parse_login_name(std::string(65, 'a') + ":db01"));
  EXPECT_TRUE(parse_login_name(std::string(64, 'a') + ":db01"));
}

}  // namespace
}  // namespace portcullis::proxy
