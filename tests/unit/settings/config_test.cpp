#include <gtest/gtest.h>
#include <stdlib.h>

#include "common/common.h"
#include "settings/settings.h"
#include "tests/support/temp_dir.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMinimal = "[database]\nurl = \"postgresql:///portcullis\"\n";

class ConfigTest : public ::testing::Test {
 protected:
  fs::path write_config(std::string_view text) const { return dir_.write("portcullis.toml", text); }

  // The message of the ConfigError that loading `text` throws.
  std::string error_for(std::string_view text) const { return load_error(write_config(text)); }

  static std::string load_error(const fs::path& file) {
    try {
      load_config(file);
    } catch (const ConfigError& e) {
      return e.what();
    }
    ADD_FAILURE() << file << " loaded, but a ConfigError was expected";
    return "";
  }

  // "FILE:LINE: " as every located message starts.
  std::string at(int line) const {
    return (dir_.path() / "portcullis.toml").string() + ":" + std::to_string(line) + ": ";
  }

  test::TempDir dir_;
};

TEST_F(ConfigTest, ReadsEveryKey) {
  const Config config = load_config(write_config(R"(# a full configuration
[server]
listen = "0.0.0.0:2200"
host_key = "keys/host"
node_name = "bastion-a.eu"
login_grace = "45s"
upstream_timeout = "1m30s"
worker_threads = 8

[database]
url = "postgresql:///portcullis?host=/run/postgresql"

[vault]
key_file = "/srv/portcullis/vault.key"

[recording]
spool_dir = "../spool"
signing_key = "keys/signing.key"
sync = "filesystem"

[log]
level = "debug"
)"));
  const fs::path dir = dir_.path();
  EXPECT_EQ(config.file, dir / "portcullis.toml");
  EXPECT_EQ(config.server.listen_host, "0.0.0.0");
  EXPECT_EQ(config.server.listen_port, 2200);
  EXPECT_EQ(config.server.host_key, dir / "keys/host");
  EXPECT_EQ(config.server.node_name, "bastion-a.eu");
  EXPECT_EQ(config.server.login_grace, std::chrono::seconds(45));
  EXPECT_EQ(config.server.upstream_timeout, std::chrono::seconds(90));
  EXPECT_EQ(config.server.worker_threads, 8);
  EXPECT_EQ(config.database.url, "postgresql:///portcullis?host=/run/postgresql");
  EXPECT_EQ(config.vault.key_file, fs::path("/srv/portcullis/vault.key"));
  EXPECT_EQ(config.recording.spool_dir, dir.parent_path() / "spool");
  EXPECT_EQ(config.recording.signing_key, dir / "keys/signing.key");
  EXPECT_EQ(config.recording.sync, SpoolSync::filesystem);
  EXPECT_EQ(config.log.level, "debug");
}

TEST_F(ConfigTest, ListensOnIpv6) {
  const Config config =
      load_config(write_config(std::string(kMinimal) + "[server]\nlisten = \"[::]:22\"\n"));
  EXPECT_EQ(config.server.listen_host, "::");
  EXPECT_EQ(config.server.listen_port, 22);
}

TEST_F(ConfigTest, DefaultsLiveNextToTheConfigFile) {
  const Config config = load_config(write_config(kMinimal));
  const fs::path dir = dir_.path();
  EXPECT_EQ(config.server.listen_host, "127.0.0.1");
  EXPECT_EQ(config.server.listen_port, 2222);
  EXPECT_EQ(config.server.host_key, dir / "state/ssh_host_ed25519_key");
  EXPECT_EQ(config.server.node_name, "node1");
  EXPECT_EQ(config.server.login_grace, std::chrono::seconds(30));
  EXPECT_EQ(config.server.upstream_timeout, std::chrono::seconds(10));
  EXPECT_EQ(config.server.worker_threads, 4);
  EXPECT_EQ(config.vault.key_file, dir / "state/vault.key");
  EXPECT_EQ(config.recording.spool_dir, dir / "state/spool");
  EXPECT_EQ(config.recording.signing_key, dir / "state/signing.key");
  EXPECT_EQ(config.recording.sync, SpoolSync::file);
  EXPECT_EQ(config.log.level, "info");
}

// A relative -c path must not make the daemon's keys depend on its working directory.
TEST_F(ConfigTest, RelativeConfigPathIsMadeAbsolute) {
  const fs::path file = write_config(std::string(kMinimal) + "[vault]\nkey_file = \"k/v.key\"\n");
  const fs::path relative = fs::relative(file, fs::current_path());
  ASSERT_TRUE(relative.is_relative());
  const Config config = load_config(relative);
  EXPECT_TRUE(config.file.is_absolute());
  EXPECT_EQ(config.file, file);
  EXPECT_EQ(config.vault.key_file, dir_.path() / "k/v.key");
  EXPECT_EQ(config.server.host_key, dir_.path() / "state/ssh_host_ed25519_key");
}

TEST_F(ConfigTest, UnknownKeyNamesItsLineAndTable) {
  EXPECT_EQ(error_for(R"([database]
url = "postgresql:///portcullis"

[server]
listen = "127.0.0.1:2222"
lisen = "127.0.0.1:2222"
)"),
            at(6) + "unknown key 'lisen' in [server]");
}

TEST_F(ConfigTest, UnknownTablesAndStrayKeys) {
  EXPECT_EQ(error_for(std::string(kMinimal) + "[servr]\nlisten = \"127.0.0.1:2222\"\n"),
            at(3) + "unknown table [servr]");
  EXPECT_EQ(error_for(std::string(kMinimal) + "\n[[polcy]]\nname = \"x\"\n"),
            at(4) + "unknown table [[polcy]]");
  EXPECT_EQ(error_for("listen = \"127.0.0.1:2222\"\n" + std::string(kMinimal)),
            at(1) + "unknown key 'listen' outside any table");
  EXPECT_EQ(error_for(std::string(kMinimal) + "[server.tls]\ncert = \"x\"\n"),
            at(3) + "unknown key 'tls' in [server]");
  // A quoted key may hold a newline; the message stays on one line.
  EXPECT_EQ(error_for(std::string(kMinimal) + "[server]\n\"a\\nb\" = 1\n"),
            at(4) + "unknown key 'a?b' in [server]");
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_EQ(error_for(std::string(kMinimal) + "[server]\nworker_threads = \"8\"\n"),
            at(4) + "'worker_threads' in [server] must be an integer, not a string");
  EXPECT_EQ(error_for(std::string(kMinimal) + "[server]\nlisten = 2222\n"),
            at(4) + "'listen' in [server] must be a string, not an integer");
  EXPECT_EQ(error_for(std::string(kMinimal) + "[vault]\nkey_file = [\"a\", \"b\"]\n"),
            at(4) + "'key_file' in [vault] must be a string, not an array");
  EXPECT_EQ(error_for(std::string(kMinimal) + "[log]\nlevel = true\n"),
            at(4) + "'level' in [log] must be a string, not a boolean");
  EXPECT_EQ(error_for("server = 1\n" + std::string(kMinimal)),
            at(1) + "[server] must be a table, not an integer");
}

TEST_F(ConfigTest, MissingRequiredKey) {
  // In the table when there is one, so the line points at where to add it.
  EXPECT_EQ(error_for("[server]\nnode_name = \"a\"\n[database]\n"),
            at(3) + "missing required key 'url' in [database]");
  // No table, no line to point at.
  EXPECT_EQ(
      error_for("[server]\nnode_name = \"a\"\n"),
      (dir_.path() / "portcullis.toml").string() + ": missing required key 'url' in [database]");
}

TEST_F(ConfigTest, BadValues) {
  const std::string database = std::string(kMinimal);
  EXPECT_EQ(error_for(database + "[server]\nlisten = \"localhost\"\n"),
            at(4) +
                "'listen' in [server]: \"localhost\" is not HOST:PORT: the port is missing "
                "(expected e.g. 127.0.0.1:2222, bastion.example.com:22 or [::1]:2222)");
  EXPECT_EQ(error_for(database + "[server]\nlisten = \"localhost:2222\"\n"),
            at(4) +
                "'listen' in [server]: \"localhost\" is not an IP address (use 0.0.0.0 or [::] to "
                "listen on all addresses)");
  EXPECT_EQ(error_for(database + "[server]\n\nworker_threads = 0\n"),
            at(5) + "'worker_threads' in [server] must be from 1 to 256");
  EXPECT_EQ(error_for(database + "[server]\nnode_name = \"node 1\"\n"),
            at(4) +
                "'node_name' in [server]: \"node 1\" is not a node name (use up to 63 letters, "
                "digits, '.', '_' and '-')");
  EXPECT_EQ(error_for(database + "[log]\nlevel = \"loud\"\n"),
            at(4) +
                "'level' in [log]: \"loud\" is not a log level (expected trace, debug, info, warn "
                "or error)");
  EXPECT_EQ(error_for("[database]\nurl = \"\"\n"), at(2) + "'url' in [database] must not be empty");
  EXPECT_EQ(error_for(database + "[recording]\nspool_dir = \"\"\n"),
            at(4) + "'spool_dir' in [recording] must not be empty");
  EXPECT_EQ(error_for(database + "[recording]\nsync = \"sometimes\"\n"),
            at(4) +
                "'sync' in [recording]: \"sometimes\" is not a choice (expected \"file\" or "
                "\"filesystem\")");
  const std::string duration = error_for(database + "[server]\nlogin_grace = \"3x\"\n");
  EXPECT_TRUE(duration.starts_with(
      at(4) + "'login_grace' in [server]: \"3x\" is not a duration: unknown unit 'x'"))
      << duration;
  const std::string zero = error_for(database + "[server]\nupstream_timeout = \"0s\"\n");
  EXPECT_TRUE(zero.starts_with(at(4) + "'upstream_timeout' in [server]: \"0s\" is not a duration"))
      << zero;
}

// [upstream] source_addresses: addresses and CIDR blocks, as sshd's source-address takes them.
TEST_F(ConfigTest, UpstreamSourceAddresses) {
  const std::string database = std::string(kMinimal);
  const Config config = load_config(write_config(
      database +
      "[upstream]\nsource_addresses = [\"192.0.2.7\", \"10.0.0.0/8\", \"2001:db8::/32\"]\n"));
  EXPECT_EQ(config.upstream.source_addresses,
            (std::vector<std::string>{"192.0.2.7", "10.0.0.0/8", "2001:db8::/32"}));
  EXPECT_TRUE(load_config(write_config(database)).upstream.source_addresses.empty());
  EXPECT_EQ(error_for(database + "[upstream]\nsource_addresses = [\"bastion.example\"]\n"),
            at(4) +
                "'source_addresses' in [upstream]: \"bastion.example\" is not an IPv4 or IPv6 "
                "address or CIDR block");
  EXPECT_EQ(error_for(database + "[upstream]\nsource_addresses = [\"10.0.0.0/33\"]\n"),
            at(4) +
                "'source_addresses' in [upstream]: \"10.0.0.0/33\" has a prefix length outside "
                "0 to 32");
}

TEST_F(ConfigTest, ReadsAccessPolicyAndAlerts) {
  const Config config = load_config(write_config(std::string(kMinimal) + R"(
[access]
approval_timeout = "2h"
warn_before = ["10m", "30s"]

[[policy]]
name = "prod-db"
targets = ["db*", "pay-*"]
roles = ["dev", "sre"]
max_duration = "2h"
require_ticket = true
ticket_pattern = "^(CHG|INC)-[0-9]+$"
hours = "Mon-Fri 08:00-18:00 Europe/Paris"
approval = "dual"
approver_roles = ["approver"]
mfa = ["request", "approve", "connect"]
break_glass = true
break_glass_max = "1h"

[[policy]]
name = "rest"
targets = ["*"]
approval = "auto"

[alerts]
webhook = "http://127.0.0.1:9/hook"
command = "logger -t portcullis"
syslog = true
)"));
  EXPECT_EQ(config.access.approval_timeout, std::chrono::hours(2));
  EXPECT_EQ(config.access.warn_before, (std::vector<std::chrono::seconds>{
                                           std::chrono::minutes(10), std::chrono::seconds(30)}));
  ASSERT_EQ(config.policies.size(), 2u);
  const PolicyRule& db = config.policies[0];
  EXPECT_EQ(db.line, 8u);
  EXPECT_EQ(db.name, "prod-db");
  EXPECT_EQ(db.targets, (std::vector<std::string>{"db*", "pay-*"}));
  EXPECT_EQ(db.approval, ApprovalMode::dual);
  EXPECT_EQ(db.mfa.size(), 3u);
  EXPECT_EQ(db.hours_line, 15u);
  EXPECT_TRUE(db.break_glass);
  EXPECT_EQ(config.policies[1].approval, ApprovalMode::automatic);
  EXPECT_EQ(config.policies[1].line, 22u);
  EXPECT_EQ(config.alerts.webhook, "http://127.0.0.1:9/hook");
  EXPECT_TRUE(config.alerts.syslog);
}

TEST_F(ConfigTest, ReadsAlertRules) {
  const Config config =
      load_config(write_config(std::string(kMinimal) + "[[alert_rule]]\n"
                                                       "name = \"wipe\"\n"
                                                       "targets = [\"db*\", \"web01\"]\n"
                                                       "match = 'rm\\s+-rf\\s+/'\n"
                                                       "action = \"terminate\"\n"
                                                       "severity = \"critical\"\n"
                                                       "[[alert_rule]]\n"
                                                       "name = \"shadow\"\n"
                                                       "targets = [\"*\"]\n"
                                                       "match = \"/etc/shadow\"\n"));
  ASSERT_EQ(config.alert_rules.size(), 2u);
  const AlertRule& wipe = config.alert_rules[0];
  EXPECT_EQ(wipe.line, 3u);
  EXPECT_EQ(wipe.name, "wipe");
  EXPECT_EQ(wipe.action, AlertAction::terminate);
  EXPECT_EQ(wipe.severity, "critical");
  EXPECT_TRUE(wipe.watches("db01"));
  EXPECT_TRUE(wipe.watches("web01"));
  EXPECT_FALSE(wipe.watches("web02"));
  EXPECT_TRUE(wipe.matches("sudo rm  -rf /var"));  // anywhere in the line
  EXPECT_FALSE(wipe.matches("rm -rf ./build"));
  EXPECT_EQ(config.alert_rules[1].action, AlertAction::alert);  // the defaults
  EXPECT_EQ(config.alert_rules[1].severity, "high");
}

TEST_F(ConfigTest, AlertRuleMistakesNameTheirLine) {
  const std::string base =
      std::string(kMinimal) + "[[alert_rule]]\nname = \"r\"\ntargets = [\"*\"]\n";
  EXPECT_EQ(error_for(base + "match = \"rm (-rf\"\n"),
            at(6) +
                "'match' in [[alert_rule]]: not a valid RE2 regular expression: missing ): rm "
                "(-rf (RE2 has no backreferences or lookarounds; see docs/config.md)");
  EXPECT_EQ(error_for(base + "match = \"rm\"\naction = \"kill\"\n"),
            at(7) +
                "'action' in [[alert_rule]]: \"kill\" is not an action (expected alert or "
                "terminate)");
  EXPECT_EQ(error_for(base + "match = \"rm\"\nseverity = \"urgent\"\n"),
            at(7) +
                "'severity' in [[alert_rule]]: \"urgent\" is not a severity (expected low, "
                "medium, high or critical)");
  EXPECT_EQ(error_for(base), at(3) + "missing required key 'match' in [[alert_rule]]");
}

TEST_F(ConfigTest, PolicyMistakesNameTheirLine) {
  const std::string base = std::string(kMinimal) + "[[policy]]\nname = \"p\"\n";
  EXPECT_EQ(error_for(base + "targets = [\"*\"]\napproval = \"triple\"\n"),
            at(6) +
                "'approval' in [[policy]]: \"triple\" is not an approval mode (expected auto, "
                "single or dual)");
  EXPECT_EQ(error_for(base + "targets = [\"*\"]\nmfa = [\"connect\", \"login\"]\n"),
            at(6) +
                "'mfa' in [[policy]]: \"login\" is not an MFA step (expected request, approve or "
                "connect)");
  EXPECT_EQ(error_for(base + "targets = \"*\"\n"),
            at(5) + "'targets' in [[policy]] must be an array of strings, not a string");
  EXPECT_EQ(error_for(base), at(3) + "missing required key 'targets' in [[policy]]");
  EXPECT_EQ(error_for(base + "targets = [\"*\"]\nenforce_hours = \"always\"\n"),
            at(6) + "'enforce_hours' in [[policy]]: must be \"connect\" or \"session\"");
  EXPECT_EQ(load_config(write_config(base + "targets = [\"*\"]\nenforce_hours = \"connect\"\n"))
                .policies[0]
                .enforce_hours,
            PolicyRule::EnforceHours::connect);
  EXPECT_EQ(load_config(write_config(base + "targets = [\"*\"]\n")).policies[0].enforce_hours,
            PolicyRule::EnforceHours::session);
  const std::string warn =
      error_for(std::string(kMinimal) + "[access]\nwarn_before = [\"5m\", \"soon\"]\n");
  EXPECT_TRUE(warn.starts_with(at(4) + "'warn_before' in [access]: \"soon\" is not a duration"))
      << warn;
  EXPECT_EQ(error_for(std::string(kMinimal) + "[alerts]\nwebhook = \"ftp://x\"\n"),
            at(4) + "'webhook' in [alerts]: must start with http:// or https://");
}

// Tables are checked in a fixed order, yet the problem reported is the first in the file.
TEST_F(ConfigTest, ReportsTheFirstProblemInTheFile) {
  EXPECT_EQ(error_for(R"([vault]
kee_file = "vault.key"
[database]
url = 5
[server]
lisen = "127.0.0.1:2222"
)"),
            at(2) + "unknown key 'kee_file' in [vault]");
  // A problem with no line (a missing table) comes after those that have one.
  EXPECT_EQ(error_for("[log]\n\n\nlevel = \"loud\"\n").substr(0, at(4).size()), at(4));
}

// Text loads as the file would, without the file: paths and messages are as for that path.
TEST_F(ConfigTest, TextLoadsAsItsFileWould) {
  const fs::path file = dir_.path() / "never-written.toml";
  const Config config =
      load_config_text(std::string(kMinimal) + "[vault]\nkey_file = \"keys/vault.key\"\n", file);
  EXPECT_EQ(config.file, file);
  EXPECT_EQ(config.vault.key_file, dir_.path() / "keys/vault.key");
  EXPECT_EQ(config.database.url, "postgresql:///portcullis");
  EXPECT_FALSE(fs::exists(file));
  try {
    load_config_text("[server\n", file);
    ADD_FAILURE() << "a syntax error loaded";
  } catch (const ConfigError& e) {
    EXPECT_TRUE(std::string_view(e.what()).starts_with(file.string() + ":1: syntax error"))
        << e.what();
  }
}

TEST_F(ConfigTest, MissingOrUnreadableFile) {
  const fs::path missing = dir_.path() / "absent.toml";
  EXPECT_EQ(load_error(missing), missing.string() + ": cannot read: No such file or directory");
  EXPECT_EQ(load_error(dir_.path()), dir_.path().string() + ": cannot read: Is a directory");
}

TEST_F(ConfigTest, SyntaxErrorsHaveTheirLine) {
  const std::string missing_value = error_for("[server]\nlisten = \n");
  EXPECT_TRUE(missing_value.starts_with(at(2) + "syntax error: ")) << missing_value;
  const std::string duplicate = error_for("[database]\nurl = \"a\"\nurl = \"b\"\n");
  EXPECT_TRUE(duplicate.starts_with(at(3) + "syntax error: ")) << duplicate;
}

// The commented example shipped in config/ must stay a valid config.
TEST(ExampleConfig, Loads) {
  const fs::path example = fs::path(PORTCULLIS_SOURCE_DIR) / "config" / "portcullis.toml";
  const Config config = load_config(example);
  EXPECT_EQ(config.server.listen_port, 2222);
  EXPECT_EQ(config.vault.key_file, example.parent_path() / "state/vault.key");
}

// Sets or clears an environment variable for one test, restoring it afterwards.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr) {
      setenv(name, value, 1);
    } else {
      unsetenv(name);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ResolveConfigPath, OptionThenEnvironmentThenDefault) {
  {
    ScopedEnv env("PORTCULLIS_CONFIG", "/from/env.toml");
    EXPECT_EQ(resolve_config_path(std::string("/from/option.toml")), "/from/option.toml");
    EXPECT_EQ(resolve_config_path(std::nullopt), "/from/env.toml");
  }
  {
    ScopedEnv env("PORTCULLIS_CONFIG", nullptr);
    EXPECT_EQ(resolve_config_path(std::nullopt), "/etc/portcullis/portcullis.toml");
  }
  {
    ScopedEnv env("PORTCULLIS_CONFIG", "");
    EXPECT_EQ(resolve_config_path(std::nullopt), "/etc/portcullis/portcullis.toml");
  }
}

// Where engineers reach the bastion (the ssh_config lines of `config`), and where the daemon
// keeps what it owes the database.
TEST_F(ConfigTest, PublicAddressAndJournalFile) {
  const auto with_server = [&](std::string_view server) {
    return load_config(write_config(std::string("[server]\n") + std::string(server) + "\n" +
                                    std::string(kMinimal)));
  };
  Config config = with_server("public_address = \"bastion.example.com\"");
  EXPECT_EQ(config.server.public_address, "bastion.example.com");
  EXPECT_FALSE(config.server.public_port);
  config = with_server("public_address = \"bastion.example.com:2200\"");
  EXPECT_EQ(config.server.public_address, "bastion.example.com");
  EXPECT_EQ(config.server.public_port, 2200);
  config = with_server("public_address = \"[2001:db8::1]:22\"");
  EXPECT_EQ(config.server.public_address, "2001:db8::1");
  EXPECT_EQ(config.server.public_port, 22);
  EXPECT_EQ(config.database.journal_file, dir_.path() / "state/database.journal");
  for (const char* bad : {"bastion example", "host:0", "bad!host", "x;y", ""}) {
    EXPECT_NE(error_for(std::string("[server]\npublic_address = \"") + bad + "\"\n" +
                        std::string(kMinimal))
                  .find("public_address"),
              std::string::npos)
        << bad;
  }
}

TEST_F(ConfigTest, AuditStreamAndWorkerPools) {
  const Config defaults = load_config(write_config(kMinimal));
  EXPECT_TRUE(defaults.alerts.audit_stream.empty());
  EXPECT_EQ(defaults.server.upstream_threads, 32);
  const Config set = load_config(
      write_config(std::string(kMinimal) +
                   "[server]\nupstream_threads = 64\n[alerts]\nsyslog = true\ncommand = \"cat\"\n"
                   "audit_stream = \"command,syslog,command\"\n"));
  EXPECT_EQ(set.alerts.audit_stream, (std::vector<std::string>{"command", "syslog"}));
  EXPECT_EQ(set.server.upstream_threads, 64);
  EXPECT_NE(error_for(std::string(kMinimal) + "[alerts]\naudit_stream = \"kafka\"\n")
                .find("'audit_stream' in [alerts]: must name alert channels"),
            std::string::npos);
  EXPECT_NE(error_for(std::string(kMinimal) + "[alerts]\naudit_stream = \"syslog,\"\n")
                .find("must name alert channels"),
            std::string::npos);
}

// [metrics] listen: off unless set, and then an IP address and a port, never a host name.
TEST_F(ConfigTest, MetricsListen) {
  EXPECT_EQ(load_config(write_config(kMinimal)).metrics.listen, "");
  EXPECT_EQ(
      load_config(write_config(std::string(kMinimal) + "[metrics]\nlisten = \"127.0.0.1:9322\"\n"))
          .metrics.listen,
      "127.0.0.1:9322");
  EXPECT_EQ(
      error_for(std::string(kMinimal) + "[metrics]\nlisten = \"metrics.example.com:9322\"\n"),
      at(4) +
          "'listen' in [metrics]: \"metrics.example.com:9322\" is not an IP address and port: "
          "write e.g. 127.0.0.1:9322 or [::1]:9322 (a host name is not accepted; 0.0.0.0:9322 "
          "serves every interface, without authentication)");
  EXPECT_NE(error_for(std::string(kMinimal) + "[metrics]\nlisten = \"9322\"\n")
                .find("the port is missing"),
            std::string::npos);
}

TEST_F(ConfigTest, ConnectionLimitsAndAlgorithms) {
  const Config defaults = load_config(write_config(kMinimal));
  EXPECT_EQ(defaults.server.max_startups.start, 10);
  EXPECT_EQ(defaults.server.max_startups.rate, 30);
  EXPECT_EQ(defaults.server.max_startups.full, 100);
  EXPECT_EQ(defaults.server.per_source_max_startups, 10);
  EXPECT_EQ(defaults.server.max_sessions_per_user, 10);
  EXPECT_EQ(defaults.server.max_sessions, 10000);
  EXPECT_TRUE(defaults.server.auth_back_off);
  EXPECT_EQ(defaults.server.kex_algorithms.find("diffie-hellman"), std::string::npos);

  const Config set = load_config(write_config(std::string(R"([server]
max_startups = "5:50:20"
per_source_max_startups = 3
auth_back_off = false
max_sessions_per_user = 2
max_sessions = 50
login_grace_time = "10s"
ciphers = "aes256-gcm@openssh.com"
)") + std::string(kMinimal)));
  EXPECT_EQ(set.server.max_startups.start, 5);
  EXPECT_EQ(set.server.max_startups.rate, 50);
  EXPECT_EQ(set.server.max_startups.full, 20);
  EXPECT_EQ(set.server.per_source_max_startups, 3);
  EXPECT_FALSE(set.server.auth_back_off);
  EXPECT_EQ(set.server.max_sessions_per_user, 2);
  EXPECT_EQ(set.server.max_sessions, 50);
  EXPECT_EQ(set.server.login_grace, std::chrono::seconds(10));
  EXPECT_EQ(set.server.ciphers, "aes256-gcm@openssh.com");
  const Config single = load_config(
      write_config(std::string("[server]\nmax_startups = \"7\"\n") + std::string(kMinimal)));
  EXPECT_EQ(single.server.max_startups.full, 7);
  EXPECT_EQ(single.server.max_startups.rate, 100);

  for (const char* bad : {"10:30", "0:30:100", "10:130:100", "10:30:5", "a:b:c", "10:30:100:1"}) {
    EXPECT_NE(
        error_for(std::string("[server]\nmax_startups = \"") + bad + "\"\n" + std::string(kMinimal))
            .find("max_startups"),
        std::string::npos)
        << bad;
  }
  for (const char* bad : {"", ",aes", "aes,,gcm", "aes gcm", "aes;rm"}) {
    EXPECT_NE(
        error_for(std::string("[server]\nciphers = \"") + bad + "\"\n" + std::string(kMinimal))
            .find("ciphers"),
        std::string::npos)
        << bad;
  }
}

}  // namespace
}  // namespace portcullis

namespace portcullis {
namespace {

class IdentityConfigTest : public ConfigTest {};

TEST_F(IdentityConfigTest, ReadsIdentityOidcAndPolicySignInKeys) {
  const Config config = load_config(write_config(std::string(kMinimal) + R"(
[identity.oidc]
issuer = "https://idp.example.com/realms/corp/"
client_id = "portcullis"
client_secret_file = "oidc-secret"
scopes = ["openid", "profile", "groups"]
username_claim = "email"
groups_claim = "roles"
role_map = { "sre" = "dev", "security" = ["auditor", "approver"] }
max_age = "12h"
provision = "create"
ca_file = "idp-ca.pem"

[[policy]]
name = "prod"
targets = ["db*"]
auth = ["key", "sso"]
source = ["10.0.0.0/8", "2001:db8::/32"]
deny_source = ["10.66.0.0/16"]
)"));
  const OidcConfig& oidc = config.oidc;
  EXPECT_EQ(oidc.issuer, "https://idp.example.com/realms/corp");  // the trailing slash dropped
  EXPECT_EQ(oidc.client_secret_file, dir_.path() / "oidc-secret");
  EXPECT_EQ(oidc.username_claim, "email");
  EXPECT_EQ(oidc.groups_claim, "roles");
  ASSERT_EQ(oidc.role_map.size(), 2u);
  EXPECT_EQ(oidc.role_map[0].first, "security");  // by group name
  EXPECT_EQ(oidc.role_map[0].second, (std::vector<std::string>{"auditor", "approver"}));
  EXPECT_EQ(oidc.max_age, std::chrono::hours(12));
  EXPECT_EQ(oidc.provision, OidcConfig::Provision::create);
  const PolicyRule& rule = config.policies.at(0);
  EXPECT_EQ(rule.auth, (std::vector<AuthMethod>{AuthMethod::key, AuthMethod::sso}));
  ASSERT_EQ(rule.source.size(), 2u);
  EXPECT_TRUE(in_range(rule.source[1], "2001:db8::7"));
  EXPECT_TRUE(in_range(rule.deny_source[0], "10.66.1.1"));
}

TEST_F(IdentityConfigTest, MistakesAreReportedWithTheirLine) {
  EXPECT_EQ(error_for(std::string(kMinimal) + "[identity.oidc]\nissuer = \"http://idp\"\n"),
            at(4) +
                "'issuer' in [identity.oidc]: \"http://idp\" is not an https:// URL (the issuer "
                "of the ID tokens, e.g. https://idp.example.com/realms/corp)");
  EXPECT_EQ(error_for(std::string(kMinimal) + "[identity.saml]\nx = 1\n"),
            at(3) + "unknown table [identity.saml]");
  EXPECT_EQ(error_for(std::string(kMinimal) + "[identity.oidc]\nrole_map = [\"sre\"]\n"),
            at(4) + "'role_map' in [identity.oidc] must be a table (e.g. { \"name\" = \"value\" }), "
                    "not an array");
  EXPECT_EQ(error_for(std::string(kMinimal) +
                      "[[policy]]\nname = \"p\"\ntargets = [\"*\"]\nauth = [\"password\"]\n"),
            at(6) + "'auth' in [[policy]]: \"password\" is not a sign-in method (expected key or "
                    "sso)");
  EXPECT_EQ(error_for(std::string(kMinimal) +
                      "[[policy]]\nname = \"p\"\ntargets = [\"*\"]\nsource = [\"10.1.2.3/8\"]\n"),
            at(6) + "'source' in [[policy]]: \"10.1.2.3/8\" has bits set after its prefix length");
}

}  // namespace
}  // namespace portcullis
