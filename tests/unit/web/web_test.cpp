// The console's own parsing of what browsers send (query strings), who may do what, and the
// self-signed certificate `portcullis init` makes.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/support/harness.h"
#include "web/api.h"
#include "web/certificate.h"

namespace portcullis::web {
namespace {

TEST(WebQuery, DecodesValuesAndRefusesBrokenEscapes) {
  EXPECT_EQ(url_decode("a%20b+c%2Fd"), "a b c/d");
  EXPECT_EQ(url_decode("%3Cscript%3E"), "<script>");
  EXPECT_EQ(url_decode("%"), std::nullopt);
  EXPECT_EQ(url_decode("%4"), std::nullopt);
  EXPECT_EQ(url_decode("%zz"), std::nullopt);
  EXPECT_EQ(url_decode("100%"), std::nullopt);
  EXPECT_EQ(query_value("user=alice&active=true", "active"), "true");
  EXPECT_EQ(query_value("user=alice&active=true", "user"), "alice");
  EXPECT_EQ(query_value("user=alice", "target"), "");
  EXPECT_EQ(query_value("q=ls%20-l&x", "q"), "ls -l");
  EXPECT_EQ(query_value("xuser=mallory&user=alice", "user"), "alice");
  EXPECT_THROW(query_value("q=%G0", "q"), std::exception);
}

TEST(WebPermissions, FollowPolicyApproversAndOversightRoles) {
  Config config;
  PolicyRule rule;
  rule.approver_roles = {"dba-lead"};
  config.policies.push_back(rule);
  access::User dev{1, "alice", {"dev"}, {}, false};
  access::User lead{2, "bob", {"dba-lead"}, {}, false};
  access::User auditor{3, "audrey", {"auditor"}, {}, false};
  EXPECT_FALSE(permissions_of(config, dev).approve);
  EXPECT_FALSE(permissions_of(config, dev).audit);
  EXPECT_TRUE(permissions_of(config, lead).approve);
  EXPECT_FALSE(permissions_of(config, lead).kill);
  EXPECT_TRUE(permissions_of(config, auditor).audit);
  EXPECT_TRUE(permissions_of(config, auditor).kill);
  config.oversight.kill_roles = {"admin"};
  EXPECT_FALSE(permissions_of(config, auditor).kill);
}

TEST(WebCertificate, SelfSignedPairNamesTheHostsAndKeepsTheKeyPrivate) {
  test::TempDir dir("portcullis-web-cert");
  const std::string fingerprint = create_self_signed_certificate(
      dir / "web.crt", dir / "web.key", {"bastion.example.com", "127.0.0.1", "::1"});
  EXPECT_EQ(fingerprint.size(), 32u * 3 - 1);
  struct stat info {};
  ASSERT_EQ(::stat((dir / "web.key").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  const std::string text = e2e::run_checked({"openssl", "x509", "-in", (dir / "web.crt").string(),
                                             "-noout", "-text", "-fingerprint", "-sha256"});
  EXPECT_NE(text.find("DNS:bastion.example.com"), std::string::npos) << text;
  EXPECT_NE(text.find("IP Address:127.0.0.1"), std::string::npos) << text;
  EXPECT_NE(text.find("prime256v1"), std::string::npos) << text;
  EXPECT_NE(text.find(fingerprint), std::string::npos) << text;
  // The key is the certificate's.
  const std::string from_key =
      e2e::run_checked({"openssl", "pkey", "-in", (dir / "web.key").string(), "-pubout"});
  const std::string from_cert =
      e2e::run_checked({"openssl", "x509", "-in", (dir / "web.crt").string(), "-noout", "-pubkey"});
  EXPECT_EQ(from_key, from_cert);
  // Never over an existing key.
  EXPECT_THROW(create_self_signed_certificate(dir / "other.crt", dir / "web.key", {"x"}),
               std::runtime_error);
}

}  // namespace
}  // namespace portcullis::web
