#include <gtest/gtest.h>

#include "targetssh/certificate_login.h"

namespace portcullis::targetssh {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

SessionCertificate session() {
  SessionCertificate s;
  s.grant_id = 12;
  s.session_id = 345;
  s.user = "alice";
  s.login = "postgres";
  s.now = system_clock::time_point(seconds(1'800'000'000));
  s.grant_end = s.now + seconds(1800);
  return s;
}

// What the issue fixes: one principal, the key id naming grant, session and user, the session id
// as serial, valid from a minute before now until the grant's end.
TEST(CertificateFields, NameTheGrantAndEndWithIt) {
  const sshkey::CertificateFields fields = certificate_fields(session());
  EXPECT_EQ(fields.type, sshkey::CertificateType::user);
  EXPECT_EQ(fields.principals, std::vector<std::string>{"postgres"});
  EXPECT_EQ(fields.key_id, "portcullis:grant=12:session=345:user=alice");
  EXPECT_EQ(fields.serial, 345U);
  EXPECT_EQ(fields.valid_after, 1'800'000'000U - 60);
  EXPECT_EQ(fields.valid_before, 1'800'001'800U);
}

// No extension unless a pty was asked for, and then only permit-pty: no forwarding, no agent.
TEST(CertificateFields, PermitPtyOnlyWithAPty) {
  EXPECT_TRUE(certificate_fields(session()).extensions.empty());
  SessionCertificate with_pty = session();
  with_pty.pty = true;
  EXPECT_EQ(certificate_fields(with_pty).extensions, std::set<std::string>{"permit-pty"});
}

// source-address only when [upstream] source_addresses is set, with every address.
TEST(CertificateFields, SourceAddressFromTheUpstreamAddresses) {
  EXPECT_TRUE(certificate_fields(session()).critical_options.empty());
  SessionCertificate pinned = session();
  pinned.source_addresses = {"192.0.2.7", "2001:db8::/32"};
  const auto options = certificate_fields(pinned).critical_options;
  ASSERT_EQ(options.size(), 1U);
  EXPECT_EQ(options.at("source-address"), "192.0.2.7,2001:db8::/32");
}

}  // namespace
}  // namespace portcullis::targetssh
