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

// The form scp, rsync and git can carry: '+' instead of ':', same meaning.
TEST(LoginName, PlusFormMeansTheSame) {
  auto target = parse_login_name("alice+db01");
  ASSERT_TRUE(target);
  EXPECT_EQ(target->user, "alice");
  EXPECT_EQ(target->target, "db01");
  EXPECT_EQ(target->login, "");
  auto login = parse_login_name("alice+db01+postgres");
  ASSERT_TRUE(login);
  EXPECT_EQ(login->user, "alice");
  EXPECT_EQ(login->target, "db01");
  EXPECT_EQ(login->login, "postgres");
  for (const char* bad : {"alice+", "+db01", "alice++x", "a+b+c+d", "alice+db01:postgres",
                          "alice:db01+postgres", "alice+db 01"}) {
    EXPECT_FALSE(parse_login_name(bad)) << bad;
  }
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
