// Editing authorized_keys for a key rotation: other lines are kept byte for byte.
#include "rotation/authorized_keys.h"

#include <gtest/gtest.h>

namespace portcullis::rotation {
namespace {

constexpr std::string_view kOld = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLD vaulted";
constexpr std::string_view kNew = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEWNEWNEW portcullis";
constexpr std::string_view kOther = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQOTHER admin@laptop";

// Adding keeps every line and ends the last one first.
TEST(AuthorizedKeys, AddsTheNewKeyOnALineOfItsOwn) {
  const std::string text = std::string("# team keys\n") + std::string(kOther) + "\n" +
                           std::string(kOld);  // no final newline
  EXPECT_EQ(with_key_added(text, kNew), text + "\n" + std::string(kNew) + "\n");
  EXPECT_EQ(with_key_added("", kNew), std::string(kNew) + "\n");
}

// A key already authorized (whatever its comment) is not added twice.
TEST(AuthorizedKeys, DoesNotAddAKeyTwice) {
  const std::string text = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINEWNEWNEW other-comment\n";
  EXPECT_EQ(with_key_added(text, kNew), text);
}

// Removing takes out the key's lines, with options or another comment, and nothing else.
TEST(AuthorizedKeys, RemovesOnlyTheOldKeysLines) {
  const std::string text =
      std::string("# ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLD kept: a comment\n") +
      std::string(kOther) + "\n" +
      "from=\"10.0.0.1\",command=\"echo a b\" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLD x\n" +
      "\n" + std::string(kOld) + "\r\n" + std::string(kNew) + "\n";
  EXPECT_EQ(without_key(text, kOld),
            std::string("# ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLD kept: a comment\n") +
                std::string(kOther) + "\n\n" + std::string(kNew) + "\n");
}

// The last line may lack its newline; it is removed all the same.
TEST(AuthorizedKeys, RemovesALastLineWithoutNewline) {
  const std::string text = std::string(kOther) + "\n" + std::string(kOld);
  EXPECT_EQ(without_key(text, kOld), std::string(kOther) + "\n");
}

// A key whose base64 merely starts like the old one's is another key.
TEST(AuthorizedKeys, MatchesWholeWordsOnly) {
  const std::string text = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOLDOLDOLDX longer\n";
  EXPECT_FALSE(authorizes(text, kOld));
  EXPECT_EQ(without_key(text, kOld), text);
  EXPECT_TRUE(authorizes(std::string(kOther) + "\n" + std::string(kOld) + "\n", kOld));
}

}  // namespace
}  // namespace portcullis::rotation
