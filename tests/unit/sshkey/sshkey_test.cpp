#include "sshkey/sshkey.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace portcullis::sshkey {
namespace {

// Made with `ssh-keygen -t ed25519 -C alice@laptop`; the fingerprint is what `ssh-keygen -l`
// printed for it.
constexpr std::string_view kAliceLine =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIA3sHEsTjFUY5pcrzQe4XpZVDMKWBKxVnAyOPEijRs/ "
    "alice@laptop";
constexpr std::string_view kAliceKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIA3sHEsTjFUY5pcrzQe4XpZVDMKWBKxVnAyOPEijRs/";
constexpr std::string_view kAliceFingerprint = "SHA256:shXRJHU8jOhVkKXfUDlSAKhh9SvrnTCkyO/YfkQJuWE";
constexpr std::string_view kBobKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHUgye715o5bcLbBc8H76yM2VlTz9pweEr4RcC54oqZP";

// A public key line parses, and its fingerprint is the one ssh-keygen prints.
TEST(SshKey, FingerprintIsTheOneSshKeygenPrints) {
  const Key key = parse_public_key(kAliceLine);
  ASSERT_TRUE(key);
  EXPECT_EQ(fingerprint(key.get()), kAliceFingerprint);
}

// The normalised line is "type base64": the comment is dropped.
TEST(SshKey, PublicKeyLineDropsTheComment) {
  const Key key = parse_public_key(kAliceLine);
  ASSERT_TRUE(key);
  EXPECT_EQ(public_key_line(key.get()), kAliceKey);
}

// Lines that are not public keys give no key rather than an exception.
TEST(SshKey, NotAPublicKeyGivesNoKey) {
  EXPECT_FALSE(parse_public_key(""));
  EXPECT_FALSE(parse_public_key("ssh-ed25519"));
  EXPECT_FALSE(parse_public_key("ssh-ed25519 not-base64!"));
  EXPECT_FALSE(
      parse_public_key("ssh-unknown AAAAC3NzaC1lZDI1NTE5AAAAIIA3sHEsTjFUY5pcrzQe4XpZVDMK"));
  EXPECT_FALSE(parse_public_key("ssh-ed25519 AAAA"));
}

// A key is listed when one of the lines is its public half; lines that do not parse are skipped.
TEST(SshKey, IsListedComparesPublicHalves) {
  const Key alice = parse_public_key(kAliceLine);
  ASSERT_TRUE(alice);
  EXPECT_TRUE(is_listed(alice.get(), {"garbage", std::string(kBobKey), std::string(kAliceKey)}));
  EXPECT_FALSE(is_listed(alice.get(), {"garbage", std::string(kBobKey)}));
  EXPECT_FALSE(is_listed(alice.get(), {}));
}

// authorized_keys-style text: blank lines and comments are skipped, leading blanks trimmed.
TEST(SshKey, KeyLinesSkipBlanksAndComments) {
  const std::string text = "# alice's keys\n\n  " + std::string(kAliceLine) + "\r\n\t# old\n" +
                           std::string(kBobKey) + "\n   \n";
  const std::vector<std::string> expected = {std::string(kAliceLine) + "\r", std::string(kBobKey)};
  EXPECT_EQ(key_lines(text), expected);
  EXPECT_TRUE(key_lines("# nothing\n\n").empty());
}

// A generated key survives export and import, as text and from a file.
TEST(SshKey, GeneratedPrivateKeyImportsBack) {
  const Key generated = generate_ed25519();
  ASSERT_TRUE(generated);
  const Text text = private_key_text(generated.get());
  ASSERT_TRUE(text);
  const Key imported = import_private_key(text.get());
  ASSERT_TRUE(imported);
  EXPECT_EQ(public_key_line(imported.get()), public_key_line(generated.get()));

  const test::TempDir dir;
  const Key loaded = load_private_key_file(dir.write("host_key", text.get()));
  ASSERT_TRUE(loaded);
  EXPECT_EQ(fingerprint(loaded.get()), fingerprint(generated.get()));
}

// Text that is not a private key, and a missing file, give no key.
TEST(SshKey, NotAPrivateKeyGivesNoKey) {
  EXPECT_FALSE(import_private_key(""));
  EXPECT_FALSE(import_private_key(std::string(kAliceLine)));
  const test::TempDir dir;
  EXPECT_FALSE(load_private_key_file(dir.path() / "missing"));
}

}  // namespace
}  // namespace portcullis::sshkey
