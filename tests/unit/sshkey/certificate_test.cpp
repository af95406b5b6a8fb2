#include "sshkey/certificate.h"

#include <gtest/gtest.h>

#include <fstream>

#include "sshkey/sshkey.h"
#include "tests/support/harness.h"
#include "tests/support/temp_dir.h"

namespace portcullis::sshkey {
namespace {

using namespace portcullis::e2e;
using portcullis::test::TempDir;
namespace fs = std::filesystem;

CertificateFields user_fields() {
  CertificateFields fields;
  fields.serial = 4242;
  fields.key_id = "portcullis:grant=7:session=4242:user=alice";
  fields.principals = {"postgres"};
  fields.valid_after = 1'800'000'000;
  fields.valid_before = 1'800'003'600;
  fields.critical_options = {{"source-address", "127.0.0.1/32,::1/128"}};
  fields.extensions = {"permit-pty"};
  return fields;
}

// The base64 of an OpenSSH line "type BASE64 [comment]", decoded.
std::string blob_of(const std::string& line) {
  const Key key = parse_public_key(line);
  EXPECT_TRUE(key) << line;
  return key ? public_key_blob(key.get()).value_or("") : "";
}

void write(const fs::path& path, const std::string& text) { std::ofstream(path) << text << '\n'; }

// What we sign, OpenSSH reads back field for field: ssh-keygen -L is the reference reader.
TEST(Certificate, SshKeygenReadsWhatWeSign) {
  TempDir dir("portcullis-cert");
  const CertificateAuthority ca = CertificateAuthority::generate();
  const Key subject = generate_ed25519();
  ASSERT_TRUE(subject);
  const std::optional<std::string> line = ca.sign(user_fields(), subject.get());
  ASSERT_TRUE(line);
  write(dir / "user-cert.pub", *line);
  const std::string listing =
      run_checked({"ssh-keygen", "-L", "-f", (dir / "user-cert.pub").string()});
  EXPECT_NE(listing.find("Type: ssh-ed25519-cert-v01@openssh.com user certificate"),
            std::string::npos)
      << listing;
  EXPECT_NE(listing.find("Key ID: \"portcullis:grant=7:session=4242:user=alice\""),
            std::string::npos);
  EXPECT_NE(listing.find("Serial: 4242"), std::string::npos);
  EXPECT_NE(listing.find("source-address 127.0.0.1/32,::1/128"), std::string::npos) << listing;
  EXPECT_NE(listing.find("permit-pty"), std::string::npos);
  EXPECT_EQ(listing.find("permit-agent-forwarding"), std::string::npos);
  EXPECT_EQ(listing.find("permit-port-forwarding"), std::string::npos);
  // The signing CA is the one ssh-keygen names.
  write(dir / "ca.pub", ca.public_key_line());
  const std::string ca_fingerprint =
      run_checked({"ssh-keygen", "-l", "-f", (dir / "ca.pub").string()});
  const std::string fingerprint_only = ca_fingerprint.substr(ca_fingerprint.find("SHA256:"), 50);
  EXPECT_NE(listing.find("Signing CA: ED25519 " + fingerprint_only), std::string::npos) << listing;
}

// Our reader gets back what we wrote, and the signature holds until one byte changes.
TEST(Certificate, ParsesWhatItSignsAndNoticesTampering) {
  const CertificateAuthority ca = CertificateAuthority::generate();
  const Key subject = generate_ed25519();
  const std::string blob = blob_of(*ca.sign(user_fields(), subject.get()));
  const std::optional<ParsedCertificate> parsed = parse_certificate(blob);
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->signature_valid);
  EXPECT_EQ(parsed->fields.key_id, user_fields().key_id);
  EXPECT_EQ(parsed->fields.principals, user_fields().principals);
  EXPECT_EQ(parsed->fields.valid_before, user_fields().valid_before);
  EXPECT_EQ(parsed->fields.critical_options, user_fields().critical_options);
  EXPECT_EQ(parsed->ca_key_blob, blob_of(ca.public_key_line()));
  EXPECT_EQ(parsed->key_blob, public_key_blob(subject.get()));

  std::string tampered = blob;
  tampered[tampered.size() / 2] ^= 1;
  const std::optional<ParsedCertificate> changed = parse_certificate(tampered);
  EXPECT_TRUE(!changed || !changed->signature_valid);
}

// A host certificate ssh-keygen signed: fields and signature as OpenSSH wrote them.
TEST(Certificate, ReadsAHostCertificateSshKeygenSigned) {
  TempDir dir("portcullis-cert");
  run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / "ca").string()});
  run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (dir / "host").string()});
  run_checked({"ssh-keygen", "-q", "-s", (dir / "ca").string(), "-h", "-I", "db01-host", "-n",
               "db01.example,10.0.0.5", "-V", "+1h", "-z", "99", (dir / "host.pub").string()});
  std::ifstream in(dir / "host-cert.pub");
  std::string line;
  std::getline(in, line);
  const std::optional<ParsedCertificate> parsed = parse_certificate_line(line);
  ASSERT_TRUE(parsed);
  std::ifstream host_in(dir / "host.pub");
  std::string host_line;
  std::getline(host_in, host_line);
  EXPECT_EQ(parsed->key_blob, blob_of(host_line)) << "the certified key";
  EXPECT_TRUE(parsed->signature_valid);
  EXPECT_EQ(parsed->fields.type, CertificateType::host);
  EXPECT_EQ(parsed->fields.serial, 99U);
  EXPECT_EQ(parsed->fields.key_id, "db01-host");
  EXPECT_EQ(parsed->fields.principals, (std::vector<std::string>{"db01.example", "10.0.0.5"}));
  std::ifstream ca_in(dir / "ca.pub");
  std::string ca_line;
  std::getline(ca_in, ca_line);
  EXPECT_EQ(parsed->ca_key_blob, blob_of(ca_line));
}

// Truncated or garbled bytes give no certificate, never a read past the end.
TEST(Certificate, MalformedBytesGiveNoCertificate) {
  const CertificateAuthority ca = CertificateAuthority::generate();
  const Key subject = generate_ed25519();
  const std::string blob = blob_of(*ca.sign(user_fields(), subject.get()));
  for (std::size_t length = 0; length < blob.size(); length += 7) {
    EXPECT_FALSE(parse_certificate(blob.substr(0, length))) << length;
  }
  EXPECT_FALSE(parse_certificate(blob + "x"));
  EXPECT_FALSE(parse_certificate(std::string(64, '\xff')));
}

// The CA's secret round-trips through its sealed form; another size is refused.
TEST(Certificate, CaKeyComesBackFromItsSecret) {
  const CertificateAuthority ca = CertificateAuthority::generate();
  const std::optional<CertificateAuthority> again = CertificateAuthority::from_secret(ca.secret());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->public_key_line(), ca.public_key_line());
  EXPECT_FALSE(CertificateAuthority::from_secret(ca.secret().substr(1)));
}

}  // namespace
}  // namespace portcullis::sshkey
