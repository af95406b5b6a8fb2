#include "vault/vault.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "tests/support/temp_dir.h"

namespace portcullis::vault {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kContext = "account:db01:postgres";

class VaultTest : public ::testing::Test {
 protected:
  VaultTest() : key_file_(dir_.path() / "vault.key") { create_key_file(key_file_); }

  // The message Vault::open throws for `key_file`.
  static std::string open_error(const fs::path& key_file) {
    try {
      Vault::open(key_file);
    } catch (const VaultError& e) {
      return e.what();
    }
    ADD_FAILURE() << key_file << " opened, but a VaultError was expected";
    return "";
  }

  static std::string unseal_error(const Vault& vault, const std::vector<std::uint8_t>& sealed,
                                  std::string_view context) {
    try {
      vault.unseal(sealed, context);
    } catch (const VaultError& e) {
      return e.what();
    }
    ADD_FAILURE() << "a sealed secret opened, but a VaultError was expected";
    return "";
  }

  test::TempDir dir_;
  fs::path key_file_;
};

TEST_F(VaultTest, KeyFileIsThirtyTwoPrivateBytes) {
  struct stat info {};
  ASSERT_EQ(::stat(key_file_.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  EXPECT_EQ(info.st_size, 32);
  // Random, not a constant.
  const fs::path other = dir_.path() / "other.key";
  create_key_file(other);
  std::ifstream a(key_file_, std::ios::binary), b(other, std::ios::binary);
  EXPECT_NE(std::string(std::istreambuf_iterator<char>(a), {}),
            std::string(std::istreambuf_iterator<char>(b), {}));
}

TEST_F(VaultTest, RoundTrip) {
  const Vault vault = Vault::open(key_file_);
  const std::string password = "correct horse battery staple";
  const std::vector<std::uint8_t> sealed = vault.seal(password, kContext);
  EXPECT_EQ(sealed.size(), 24 + 16 + password.size());  // nonce, MAC, ciphertext
  EXPECT_EQ(std::search(sealed.begin(), sealed.end(), password.begin(), password.end()),
            sealed.end());
  EXPECT_EQ(vault.unseal(sealed, kContext).reveal(), password);
}

TEST_F(VaultTest, RoundTripOfEmptyBinaryAndLargeSecrets) {
  const Vault vault = Vault::open(key_file_);
  const std::string binary("\0\x01\xff key \0", 9);
  const std::string large(1 << 20, 'k');
  for (const std::string& secret : {std::string(), binary, large}) {
    EXPECT_EQ(vault.unseal(vault.seal(secret, kContext), kContext).reveal(), secret);
  }
}

// The key file is all that is needed: a new process opening it reads old secrets.
TEST_F(VaultTest, ReopenedKeyOpensEarlierSecrets) {
  const std::vector<std::uint8_t> sealed = Vault::open(key_file_).seal("s3cret", kContext);
  EXPECT_EQ(Vault::open(key_file_).unseal(sealed, kContext).reveal(), "s3cret");
}

TEST_F(VaultTest, EachSealUsesAFreshNonce) {
  const Vault vault = Vault::open(key_file_);
  const auto first = vault.seal("same", kContext);
  const auto second = vault.seal("same", kContext);
  EXPECT_NE(first, second);
  EXPECT_EQ(vault.unseal(second, kContext).reveal(), "same");
}

TEST_F(VaultTest, WrongContextFails) {
  const Vault vault = Vault::open(key_file_);
  const auto sealed = vault.seal("hunter2", kContext);
  EXPECT_EQ(unseal_error(vault, sealed, "account:db01:root"),
            "sealed secret for account:db01:root failed authentication");
}

TEST_F(VaultTest, AnyTamperedByteFails) {
  const Vault vault = Vault::open(key_file_);
  const auto sealed = vault.seal("hunter2", kContext);
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    auto tampered = sealed;
    tampered[i] ^= 0x01;
    EXPECT_EQ(unseal_error(vault, tampered, kContext),
              "sealed secret for account:db01:postgres failed authentication")
        << "byte " << i;
  }
}

TEST_F(VaultTest, TruncatedOrEmptyBlobFails) {
  const Vault vault = Vault::open(key_file_);
  auto sealed = vault.seal("hunter2", kContext);
  sealed.pop_back();
  EXPECT_THROW(vault.unseal(sealed, kContext), VaultError);
  EXPECT_THROW(vault.unseal(std::vector<std::uint8_t>(39), kContext), VaultError);
  EXPECT_THROW(vault.unseal({}, kContext), VaultError);
}

TEST_F(VaultTest, AnotherKeyCannotOpen) {
  const fs::path other = dir_.path() / "other.key";
  create_key_file(other);
  const auto sealed = Vault::open(key_file_).seal("hunter2", kContext);
  EXPECT_THROW(Vault::open(other).unseal(sealed, kContext), VaultError);
}

TEST_F(VaultTest, MissingKeyFileSaysWhatToDo) {
  const fs::path missing = dir_.path() / "state" / "vault.key";
  EXPECT_EQ(open_error(missing), "vault key file " + missing.string() +
                                     " is missing: run `portcullis init` to create it, or point "
                                     "[vault] key_file at the existing one");
}

TEST_F(VaultTest, KeyFileOthersCanUseIsRefused) {
  fs::permissions(key_file_, static_cast<fs::perms>(0644));
  EXPECT_EQ(open_error(key_file_), "vault key file " + key_file_.string() +
                                       " has mode 0644, so group or others can use it: run `chmod "
                                       "600 " +
                                       key_file_.string() + "` and consider the vault key exposed");
  for (int mode : {0640, 0604, 0620, 0602, 0610, 0601}) {
    fs::permissions(key_file_, static_cast<fs::perms>(mode));
    EXPECT_THROW(Vault::open(key_file_), VaultError) << std::oct << mode;
  }
  fs::permissions(key_file_, static_cast<fs::perms>(0400));
  EXPECT_NO_THROW(Vault::open(key_file_));
}

TEST_F(VaultTest, KeyFileOfTheWrongSizeIsRefused) {
  const fs::path hex = dir_.write("hex.key", std::string(64, 'a'));
  fs::permissions(hex, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(open_error(hex), "vault key file " + hex.string() +
                                 " holds 64 bytes, not 32: it is damaged or not a vault key; "
                                 "restore it from a backup (a new key cannot open secrets sealed "
                                 "with the old one)");
  const fs::path empty = dir_.write("empty.key", "");
  fs::permissions(empty, fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_THROW(Vault::open(empty), VaultError);
}

TEST_F(VaultTest, FolderAsKeyFileIsRefused) {
  const fs::path folder = dir_.path() / "folder.key";
  fs::create_directory(folder);
  fs::permissions(folder, fs::perms::owner_all);
  EXPECT_EQ(open_error(folder), "vault key file " + folder.string() + " is not a regular file");
}

// Replacing the key would make every sealed secret unreadable.
TEST_F(VaultTest, CreateKeyFileNeverReplacesAKey) {
  const auto sealed = Vault::open(key_file_).seal("hunter2", kContext);
  try {
    create_key_file(key_file_);
    ADD_FAILURE() << "an existing key file was replaced";
  } catch (const VaultError& e) {
    EXPECT_EQ(std::string(e.what()),
              "vault key file " + key_file_.string() +
                  " already exists: refusing to replace it, since the secrets sealed with it "
                  "could no longer be opened");
  }
  EXPECT_EQ(Vault::open(key_file_).unseal(sealed, kContext).reveal(), "hunter2");
}

TEST(Secret, MovesLeaveNothingBehind) {
  Secret first(std::string("pw"));
  Secret second(std::move(first));
  EXPECT_TRUE(first.empty());  // NOLINT(bugprone-use-after-move): checking exactly that
  EXPECT_EQ(second.reveal(), "pw");
  Secret third;
  EXPECT_TRUE(third.empty());
  third = std::move(second);
  EXPECT_TRUE(second.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(third.reveal(), "pw");
}

}  // namespace
}  // namespace portcullis::vault
