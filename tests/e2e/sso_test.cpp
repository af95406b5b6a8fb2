// Signing in through a real OpenID provider (tests/oidc: npm oidc-provider) with the real ssh
// client under a pty: the device code shown by keyboard-interactive, completed at the provider
// as the person would, roles from the provider's groups, provisioning, refusals, key rotation;
// and [[policy]] source / deny_source.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"
#include "tests/support/oidc_provider.h"

namespace portcullis::e2e {
namespace {

using json = nlohmann::json;

// What an engineer's ssh shows and does when the bastion asks for an SSO sign-in.
struct SsoLogin {
  std::string transcript;
  std::optional<int> exit_status;
  bool code_shown = false;
  RunResult completion;  // complete_device.mjs at the provider
};

class Sso : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = OidcProvider::unavailable(); !why.empty()) {
      if (OidcProvider::fixtures_required()) FAIL() << why;
      GTEST_SKIP() << why;
    }
    idp.add_user("alice", "alice-pw", {"sre"});
    idp.add_user("bob", "bob-pw", {"sre-leads"});
    idp.add_user("carol", "carol-pw", {"marketing"});
    idp.add_user("dave", "dave-pw", {"sre"}, true);
    idp.start();
    bastion.append_config(R"(
[identity.oidc]
issuer = ")" + idp.issuer() +
                          R"("
client_id = ")" + idp.client_id() +
                          R"("
client_secret_file = ")" + idp.client_secret_file().string() +
                          R"("
scopes = ["openid", "profile", "groups"]
role_map = { "sre" = "dev", "sre-leads" = ["approver", "dev"] }
max_age = "1h"
provision = "create"
ca_file = ")" + idp.ca_file().string() +
                          R"("

[[policy]]
name = "prod-sso"
targets = ["db*"]
roles = ["dev"]
approval = "single"
approver_roles = ["approver"]
auth = ["sso"]

[[policy]]
name = "lab-office-only"
targets = ["lab*"]
approval = "auto"
source = ["10.0.0.0/8"]

[[policy]]
name = "stage-not-from-here"
targets = ["stage*"]
approval = "auto"
deny_source = ["127.0.0.0/8"]

[[policy]]
name = "vault-key-and-sso"
targets = ["vault*"]
roles = ["dev"]
approval = "auto"
auth = ["key", "sso"]
)");
    for (const char* name : {"db01", "lab01", "stage01", "vault01"}) {
      bastion.add_target(name, target);
      bastion.add_key_account(name, target);
    }
    bastion.start();
  }

  // ssh LOGIN@bastion COMMAND under a pty, preferring `methods`; when the code is shown,
  // the person signs in at the provider as `idp_user`.
  SsoLogin sign_in(const std::string& login, const std::vector<std::string>& command,
                   const std::string& idp_user, const std::string& password, const KeyPair& key,
                   const std::string& methods = "keyboard-interactive") {
    std::vector<std::string> argv =
        ssh_mfa_command(key.private_key, bastion.port(), login, command);
    for (std::string& word : argv) {
      if (word == "LogLevel=ERROR") word = "LogLevel=INFO";  // ssh shows the instruction at INFO
      if (word.starts_with("PreferredAuthentications="))
        word = "PreferredAuthentications=" + methods;
    }
    PtySession session(argv);
    SsoLogin login_result;
    const std::optional<std::string> shown =
        session.expect("Sign in at (https://[^ \r\n]+) and enter ([A-Z0-9-]+)", 30s);
    if (shown) {
      login_result.code_shown = true;
      std::smatch match;
      std::regex_search(*shown, match, std::regex("Sign in at (\\S+) and enter (\\S+)"));
      login_result.completion = idp.complete_device(match[1], match[2], idp_user, password);
    }
    login_result.exit_status = session.wait_exit(60s);
    login_result.transcript = session.transcript();
    return login_result;
  }

  std::string audit_details(const std::string& action, const std::string& object) {
    return PostgresCluster::shared().query(
        bastion.database(),
        "SELECT coalesce(string_agg(details::text, '\n' ORDER BY id), '') FROM audit_events"
        " WHERE action = '" +
            action + "' AND object = '" + object + "'");
  }

  OidcProvider idp;
  TargetSshd target;
  Bastion bastion;
  KeyPair stranger = generate_key(bastion.dir() / "not-registered");
};

TEST_F(Sso, DeviceSignInOverSshGivesTheMappedRolesAndAnApproverCanApprove) {
  // Neither alice nor bob exists in Portcullis: provision = "create" makes them at sign-in.
  const SsoLogin request =
      sign_in("alice", {"request", "db01", "--for", "10m", "--reason", "deploy", "--json"}, "alice",
              "alice-pw", stranger);
  ASSERT_TRUE(request.code_shown) << request.transcript;
  EXPECT_EQ(request.completion.exit_status, 0) << request.completion.err;
  EXPECT_EQ(request.exit_status, 0) << request.transcript;
  std::smatch id;
  ASSERT_TRUE(std::regex_search(request.transcript, id, std::regex("\"id\": ?([0-9]+)")))
      << request.transcript;
  EXPECT_NE(request.transcript.find("pending"), std::string::npos) << request.transcript;
  EXPECT_EQ(
      bastion.cli_checked({"user", "list", "--json"}).find("\"approver\"") != std::string::npos,
      false);  // alice holds dev only, and bob does not exist yet

  const SsoLogin approve =
      sign_in("bob", {"approve", id[1], "--comment", "ok"}, "bob", "bob-pw", stranger);
  ASSERT_TRUE(approve.code_shown) << approve.transcript;
  EXPECT_EQ(approve.exit_status, 0) << approve.transcript;
  EXPECT_NE(approve.transcript.find("active until"), std::string::npos) << approve.transcript;

  const std::string bob_added = audit_details("user.add", "user:bob");
  EXPECT_NE(bob_added.find("\"provisioned_by\": \"sso\""), std::string::npos) << bob_added;
  EXPECT_NE(bob_added.find("approver"), std::string::npos) << bob_added;
  const std::string signed_in = audit_details("sso.signed_in", "user:bob");
  EXPECT_NE(signed_in.find("sre-leads"), std::string::npos) << signed_in;

  // The grant is used over the same kind of sign-in: the rule asks for SSO to connect.
  const SsoLogin shell =
      sign_in("alice:db01", {"echo", "hello-from-db01"}, "alice", "alice-pw", stranger);
  EXPECT_EQ(shell.exit_status, 0) << shell.transcript;
  EXPECT_NE(shell.transcript.find("hello-from-db01"), std::string::npos) << shell.transcript;
}

TEST_F(Sso, IdpGroupsReplaceStoredRolesAndTheChangeIsAudited) {
  bastion.add_user("alice", {"dev", "admin"});  // admin is not among her groups at the IdP
  const SsoLogin login = sign_in("alice", {"grants"}, "alice", "alice-pw", stranger);
  EXPECT_EQ(login.exit_status, 0) << login.transcript;
  const std::string users = bastion.cli_checked({"user", "list", "--json"});
  const json list = json::parse(users);
  ASSERT_TRUE(list.is_array()) << users;
  bool found = false;
  for (const json& user : list) {
    if (user["name"] != "alice") continue;
    found = true;
    EXPECT_EQ(user["roles"], json({"dev"})) << users;
  }
  EXPECT_TRUE(found) << users;
  const std::string changed = audit_details("user.roles_changed", "user:alice");
  EXPECT_NE(changed.find("\"before\": [\"dev\", \"admin\"]"), std::string::npos) << changed;
  EXPECT_NE(changed.find("\"after\": [\"dev\"]"), std::string::npos) << changed;
}

TEST_F(Sso, RefusedSignInsSayWhyAndLeaveNoUser) {
  // carol is in no mapped group: she signs in but no rule lets her ask.
  const SsoLogin carol = sign_in("carol", {"request", "db01", "--for", "10m", "--reason", "x"},
                                 "carol", "carol-pw", stranger);
  EXPECT_EQ(carol.completion.exit_status, 0) << carol.completion.err;
  EXPECT_NE(carol.exit_status, 0);
  EXPECT_NE(carol.transcript.find("no policy rule lets carol ask for db01"), std::string::npos)
      << carol.transcript;

  // dave is disabled at the IdP: the provider refuses him, and so does the bastion.
  const SsoLogin dave = sign_in("dave", {"grants"}, "dave", "dave-pw", stranger);
  ASSERT_TRUE(dave.code_shown) << dave.transcript;
  EXPECT_NE(dave.completion.exit_status, 0);
  EXPECT_NE(dave.exit_status, 0);
  EXPECT_NE(dave.transcript.find("Sign-in refused"), std::string::npos) << dave.transcript;
  EXPECT_EQ(PostgresCluster::shared().query(bastion.database(),
                                            "SELECT count(*) FROM users WHERE name = 'dave'"),
            "0");

  // Signing in at the IdP as someone else than the login name says.
  const SsoLogin swapped = sign_in("bob", {"grants"}, "alice", "alice-pw", stranger);
  EXPECT_NE(swapped.exit_status, 0);
  EXPECT_NE(swapped.transcript.find("you signed in at the identity provider as alice, not as bob"),
            std::string::npos)
      << swapped.transcript;
  EXPECT_NE(audit_details("sso.sign_in_refused", "login:bob").find("wrong_user"),
            std::string::npos);
}

TEST_F(Sso, KeyRotationAtTheProviderIsPickedUp) {
  const SsoLogin first = sign_in("alice", {"grants"}, "alice", "alice-pw", stranger);
  ASSERT_EQ(first.exit_status, 0) << first.transcript;
  const std::vector<std::string> old_kids = idp.jwks_kids();
  idp.rotate_keys();
  ASSERT_NE(idp.jwks_kids(), old_kids);
  const SsoLogin second = sign_in("alice", {"grants"}, "alice", "alice-pw", stranger);
  EXPECT_EQ(second.exit_status, 0) << second.transcript << bastion.log();
}

TEST_F(Sso, KeyAndSsoBothWhenTheRuleAsksForBoth) {
  const KeyPair alice_key = bastion.add_user("alice", {"dev"});
  bastion.add_grant("alice", "vault01", target.account());
  // The key alone: the bastion goes on to ask for SSO, which this client will not do.
  const RunResult key_only =
      run_ssh(alice_key.private_key, bastion.port(), "alice:vault01", {"echo", "x"});
  EXPECT_NE(key_only.exit_status, 0) << key_only.out;
  // SSO alone: the rule wants the key too.
  const SsoLogin sso_only = sign_in("alice:vault01", {"echo", "x"}, "alice", "alice-pw", stranger);
  EXPECT_NE(sso_only.exit_status, 0);
  EXPECT_NE(sso_only.transcript.find("requires signing in with an SSH key"), std::string::npos)
      << sso_only.transcript;
  // Both: the key first, then the code.
  const SsoLogin both = sign_in("alice:vault01", {"echo", "both-ways"}, "alice", "alice-pw",
                                alice_key, "publickey,keyboard-interactive");
  ASSERT_TRUE(both.code_shown) << both.transcript;
  EXPECT_EQ(both.exit_status, 0) << both.transcript;
  EXPECT_NE(both.transcript.find("both-ways"), std::string::npos) << both.transcript;
}

TEST_F(Sso, SourceRulesRefuseOtherAddressesAndSaySo) {
  // Not dev: prod-sso, which asks dev for SSO at every login, is not hers.
  const KeyPair alice_key = bastion.add_user("alice", {"ops"});
  const RunResult lab = run_ssh(alice_key.private_key, bastion.port(), "alice",
                                {"request", "lab01", "--for", "10m", "--reason", "x"});
  EXPECT_NE(lab.exit_status, 0);
  EXPECT_NE(lab.err.find("rule lab-office-only allows to request only from 10.0.0.0/8; "
                         "127.0.0.1 is not among them"),
            std::string::npos)
      << lab.err;
  // A grant an administrator made is still bound by its rule's deny_source to connect.
  bastion.add_grant("alice", "stage01", target.account());
  const RunResult stage =
      run_ssh(alice_key.private_key, bastion.port(), "alice:stage01", {"echo", "x"});
  EXPECT_NE(stage.exit_status, 0);
  EXPECT_NE(stage.err.find("rule stage-not-from-here refuses to connect from 127.0.0.1 "
                           "(deny_source 127.0.0.0/8)"),
            std::string::npos)
      << stage.err;
}

}  // namespace
}  // namespace portcullis::e2e
