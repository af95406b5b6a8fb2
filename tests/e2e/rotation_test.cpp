// Credentials rotated after use (issue 15), against real sshd targets: once the grant on an
// after-use account ends, the key or password given to `account add` no longer logs in to the
// target (the real ssh and sshpass clients say so), and a new grant still works through the
// bastion. A target that is down is retried, alerts after [rotation] alert_after failures, and
// the old credential keeps working meanwhile.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

// Fast enough for a test: a look every second, retries a second apart.
constexpr std::string_view kFastRotation = R"([rotation]
check_interval = "1s"
retry_initial = "1s"
retry_max = "1s"
timeout = "10s"
)";

// A target whose sshd reads authorized_keys from a folder the target account owns: rotation
// rewrites the file beside itself, and parallel tests each need their own.
class KeysFolder {
 public:
  explicit KeysFolder(const std::string& account) : account_(account) {
    if (::geteuid() == 0) run_checked({"chown", account + ":", dir_.path().string()});
  }
  fs::path file() const { return dir_ / "authorized_keys"; }
  std::string sshd_config() const { return "AuthorizedKeysFile " + file().string() + "\n"; }
  // The target's account key, as TargetSshd's own file has it, owned by the account.
  void authorize(const KeyPair& key) const {
    write_file(file(), "# kept by rotation\n" + key.public_text() + "\n");
    if (::geteuid() == 0) run_checked({"chown", account_ + ":", file().string()});
  }

 private:
  std::string account_;
  TempDir dir_{"portcullis-keys"};
};

// The word at `index` (from 0) of a line of space-separated words.
std::string word(const std::string& line, std::size_t index) {
  std::istringstream words(line);
  std::string found;
  for (std::size_t i = 0; i <= index; ++i) words >> found;
  return found;
}

json account_row(const Bastion& bastion, const std::string& login) {
  for (const json& row : json::parse(bastion.cli_checked({"account", "list", "--json"}))) {
    if (row["login"] == login) return row;
  }
  return json();
}

json audit_rows(const Bastion& bastion, const std::string& action) {
  json found = json::array();
  for (const json& row : json::parse(bastion.cli_checked({"audit", "list", "--json"}))) {
    if (row["action"] == action) found.push_back(row);
  }
  return found;
}

bool rotated(const Bastion& bastion, const std::string& login) {
  const json row = account_row(bastion, login);
  return row.is_object() && !row["last_rotated_at"].is_null() && row["state"] == "ok";
}

// A session through the bastion, so the account counts as used, then the grant revoked.
void use_and_end(Bastion& bastion, const KeyPair& user_key, const std::string& login,
                 const std::string& grant) {
  const RunResult used = run_ssh(user_key.private_key, bastion.port(), login, {"echo used"});
  ASSERT_EQ(used.exit_status, 0) << used.err << bastion.log();
  ASSERT_EQ(used.out, "used\n");
  bastion.cli_checked({"grant", "revoke", grant, "--reason", "rotation test"});
}

// `sshpass` with `password` straight to the target, password authentication only. The options
// in front of the harness's win: ssh keeps the first value it reads for each.
RunResult password_login(const TargetSshd& target, const std::string& account,
                         const std::string& password) {
  std::vector<std::string> argv = {"sshpass",
                                   "-e",
                                   "ssh",
                                   "-o",
                                   "BatchMode=no",
                                   "-o",
                                   "PubkeyAuthentication=no",
                                   "-o",
                                   "PreferredAuthentications=password",
                                   "-o",
                                   "NumberOfPasswordPrompts=1"};
  const auto options = ssh_client_options("/dev/null", target.port());
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), {account + "@127.0.0.1", "true"});
  return run(argv, RunOptions().with_env({"SSHPASS=" + password}));
}

// An OS account of its own, for a test that changes its password: the shared target account
// is used by tests running at the same time.
class OsUser {
 public:
  OsUser() : name_("pclr-" + random_hex(4)) {
    run_checked({"useradd", "--create-home", "--shell", "/bin/bash", name_});
    run_checked({"chpasswd"}, RunOptions().with_stdin(name_ + ":" + password_ + "\n"));
  }
  ~OsUser() { run({"userdel", "--remove", name_}); }
  const std::string& name() const { return name_; }
  const std::string& password() const { return password_; }

 private:
  std::string name_;
  std::string password_ = "pcl-rotation-Old-Password-" + random_hex(4);
};

// A key account on db01 whose authorized_keys file is the test's own, and user alice.
class KeyRotation : public ::testing::Test {
 protected:
  KeyRotation() {
    keys.authorize(target.account_key());
    user_key = bastion.add_user("alice");
    bastion.add_target("db01", target);
  }

  // `account add` with the target's account key and `options` (--rotate ...).
  void add_account(const std::vector<std::string>& options) {
    std::vector<std::string> args = {"account",
                                     "add",
                                     "db01",
                                     account,
                                     "--key-file",
                                     target.account_key().private_key.string(),
                                     "--authorized-keys",
                                     keys.file().string()};
    args.insert(args.end(), options.begin(), options.end());
    bastion.cli_checked(args);
  }

  // The key given to `account add`, straight to the target.
  RunResult direct_login() const {
    return run_ssh(target.account_key().private_key, target.port(), account, {"true"});
  }

  const std::string account = target_account();
  KeysFolder keys{account};
  TargetSshd target{keys.sshd_config()};
  Bastion bastion;
  KeyPair user_key;
};

// After the grant ends, the original key no longer logs in; the bastion logs in with the new.
TEST_F(KeyRotation, AKeyIsReplacedAfterUse) {
  bastion.append_config(kFastRotation);
  add_account({"--rotate", "after-use"});
  EXPECT_EQ(account_row(bastion, account)["rotate"], "after-use");
  EXPECT_EQ(account_row(bastion, account)["state"], "ok");
  const std::string grant = bastion.add_grant("alice", "db01", account);
  bastion.start();

  ASSERT_EQ(direct_login().exit_status, 0);
  use_and_end(bastion, user_key, "alice:db01", grant);
  ASSERT_TRUE(wait_until([&] { return rotated(bastion, account); }, 30s))
      << account_row(bastion, account).dump() << bastion.log();

  // The key given to `account add` is gone from the target, every other line is kept.
  EXPECT_EQ(direct_login().exit_status, 255);
  const std::string file = read_file(keys.file());
  const std::string old_blob = word(target.account_key().public_text(), 1);
  EXPECT_EQ(file.find(old_blob), std::string::npos) << file;
  EXPECT_NE(file.find("# kept by rotation\n"), std::string::npos) << file;
  EXPECT_NE(file.find(" portcullis:db01:" + account), std::string::npos) << file;

  // Audited with both fingerprints, never the key.
  const json audited = audit_rows(bastion, "credential.rotated");
  ASSERT_EQ(audited.size(), 1u);
  EXPECT_EQ(audited[0]["details"]["old_fingerprint"],
            word(run_checked({"ssh-keygen", "-l", "-f", target.account_key().public_key()}), 1));
  EXPECT_NE(audited[0]["details"]["new_fingerprint"], audited[0]["details"]["old_fingerprint"]);

  // The bastion logs in with the new key.
  bastion.add_grant("alice", "db01", account);
  const RunResult again = run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"echo ok"});
  EXPECT_EQ(again.exit_status, 0) << again.err << bastion.log();
  EXPECT_EQ(again.out, "ok\n");
}

// After the grant ends, the original password no longer logs in; the bastion uses the new.
TEST(Rotation, APasswordIsReplacedAfterUse) {
  if (!can_use_password_account()) GTEST_SKIP() << "needs root to create an OS user";
  OsUser user;
  TargetSshd target("AllowUsers " + user.name() + "\n");
  Bastion bastion;
  bastion.append_config(kFastRotation);
  const KeyPair user_key = bastion.add_user("alice");
  bastion.add_target("db01", target);
  const fs::path password_file = bastion.dir() / "password";
  write_file(password_file, user.password() + "\n");
  bastion.cli_checked({"account", "add", "db01", user.name(), "--password-file",
                       password_file.string(), "--rotate", "after-use"});
  const std::string grant = bastion.add_grant("alice", "db01", user.name());
  bastion.start();

  ASSERT_EQ(password_login(target, user.name(), user.password()).exit_status, 0) << target.log();
  use_and_end(bastion, user_key, "alice:db01", grant);
  ASSERT_TRUE(wait_until([&] { return rotated(bastion, user.name()); }, 30s))
      << account_row(bastion, user.name()).dump() << bastion.log();

  const RunResult old_password = password_login(target, user.name(), user.password());
  EXPECT_NE(old_password.exit_status, 0);
  EXPECT_EQ(audit_rows(bastion, "credential.rotated").size(), 1u);

  bastion.add_grant("alice", "db01", user.name());
  const RunResult again = run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"whoami"});
  EXPECT_EQ(again.exit_status, 0) << again.err << bastion.log();
  EXPECT_EQ(again.out, user.name() + "\n");
}

// Retries, one alert at alert_after, rotation_failed, and the old key still works.
TEST_F(KeyRotation, ATargetThatIsDownFailsAlertsAndKeepsTheOldKey) {
  WebhookSink webhook;
  bastion.append_config(std::string(kFastRotation) + "alert_after = 3\n\n[alerts]\nwebhook = \"" +
                        webhook.url() + "\"\n");
  add_account({"--rotate", "after-use"});
  const std::string grant = bastion.add_grant("alice", "db01", account);
  bastion.start();

  const RunResult used = run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"true"});
  ASSERT_EQ(used.exit_status, 0) << used.err << bastion.log();
  target.stop();
  bastion.cli_checked({"grant", "revoke", grant, "--reason", "rotation test"});

  auto alerted = [&] {
    for (const WebhookSink::Request& request : webhook.requests()) {
      if (json::parse(request.body)["kind"] == "rotation_failed") return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_until(alerted, 30s)) << bastion.log();
  const json row = account_row(bastion, account);
  EXPECT_EQ(row["state"], "rotation_failed") << row.dump();
  EXPECT_GE(row["rotation_failures"].get<int>(), 3);
  EXPECT_TRUE(row["last_rotated_at"].is_null());
  const json failures = audit_rows(bastion, "credential.rotation_failed");
  ASSERT_GE(failures.size(), 3u);
  EXPECT_EQ(failures[2]["details"]["attempt"], 3);
  EXPECT_EQ(failures[2]["details"]["state"], "rotation_failed");

  // A grant holds rotation off; with the target back, the old key still works through the
  // bastion and directly.
  bastion.add_grant("alice", "db01", account);
  target.restart();
  const RunResult back = run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"echo ok"});
  EXPECT_EQ(back.exit_status, 0) << back.err << bastion.log();
  EXPECT_EQ(back.out, "ok\n");
  EXPECT_EQ(direct_login().exit_status, 0);
  EXPECT_EQ(account_row(bastion, account)["last_rotated_at"], nullptr);
}

// `account rotate`: at once, whatever the mode; a failure says the old key still works.
TEST_F(KeyRotation, RotateNowFromTheCli) {
  add_account({});
  EXPECT_EQ(account_row(bastion, account)["rotate"], "never");

  const RunResult unknown = bastion.cli({"account", "rotate", "db01", "no-such-login"});
  EXPECT_EQ(unknown.exit_status, 1);
  EXPECT_NE(unknown.err.find("has no account no-such-login"), std::string::npos) << unknown.err;

  const std::string before = read_file(keys.file());
  const RunResult rotate = bastion.cli({"account", "rotate", "db01", account});
  ASSERT_EQ(rotate.exit_status, 0) << rotate.err;
  EXPECT_NE(rotate.out.find("rotated " + account + " on db01: key SHA256:"), std::string::npos)
      << rotate.out;
  EXPECT_TRUE(rotated(bastion, account));
  EXPECT_NE(read_file(keys.file()), before);
  EXPECT_EQ(direct_login().exit_status, 255);

  // With the target down it fails, says so, and keeps the (new) key it has.
  target.stop();
  const RunResult down = bastion.cli({"account", "rotate", "db01", account});
  EXPECT_NE(down.exit_status, 0);
  EXPECT_NE(down.err.find("failed (attempt 1)"), std::string::npos) << down.err;
  EXPECT_NE(down.err.find("which still works"), std::string::npos) << down.err;
  target.restart();
  bastion.add_grant("alice", "db01", account);
  bastion.start();
  const RunResult works = run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"echo ok"});
  EXPECT_EQ(works.exit_status, 0) << works.err << bastion.log();
}

// The path goes into a remote command line: only characters that need no quoting.
TEST(Rotation, RefusesAnAuthorizedKeysPathThatNeedsQuoting) {
  TargetSshd target;
  Bastion bastion;
  bastion.add_target("db01", target);
  const RunResult refused = bastion.cli({"account", "add", "db01", target.account(), "--key-file",
                                         target.account_key().private_key.string(),
                                         "--authorized-keys", "keys'; rm -rf ~"});
  EXPECT_EQ(refused.exit_status, 1);
  EXPECT_NE(refused.err.find("invalid --authorized-keys path"), std::string::npos) << refused.err;
  // Nothing was added: the account and its rotation are one transaction.
  EXPECT_TRUE(json::parse(bastion.cli_checked({"account", "list", "--json"})).empty());
}

}  // namespace
}  // namespace portcullis::e2e
