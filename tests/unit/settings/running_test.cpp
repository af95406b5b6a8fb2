// What a reload may change, what it keeps until a restart, and where state files go by default.
#include "settings/running.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kBase = R"([server]
listen = "127.0.0.1:2222"
max_sessions = 50

[database]
url = "postgresql:///portcullis"

[[policy]]
name = "dev"
targets = ["dev*"]
approval = "auto"
)";

class RunningConfigTest : public ::testing::Test {
 protected:
  std::shared_ptr<const RunningConfig> load(std::string_view text) {
    return load_running_config(dir_.write("portcullis.toml", text));
  }
  Config config(std::string_view text) { return load(text)->config; }

  test::TempDir dir_;
};

// The same file, byte for byte, has the same hash; any change gives another.
TEST_F(RunningConfigTest, TheHashNamesTheFileAsLoaded) {
  const std::string first = config(kBase).sha256;
  EXPECT_EQ(first.size(), 64u);
  EXPECT_EQ(config(kBase).sha256, first);
  EXPECT_NE(config(std::string(kBase) + "\n").sha256, first);
}

TEST_F(RunningConfigTest, PolicyAndLimitsComeFromTheNewFile) {
  const auto running = load(kBase);
  std::string changed(kBase);
  changed.replace(changed.find("max_sessions = 50"), 17, "max_sessions = 7");
  changed.replace(changed.find("\"dev*\""), 6, "\"web*\"");
  const ReloadPlan plan = plan_reload(*running, config(changed));
  EXPECT_TRUE(plan.needs_restart.empty());
  EXPECT_EQ(plan.next->config.server.max_sessions, 7);
  ASSERT_EQ(plan.next->policy.rules().size(), 1u);
  EXPECT_EQ(plan.next->policy.match({}, "web01"), &plan.next->policy.rules()[0]);
  EXPECT_EQ(plan.next->policy.match({}, "dev01"), nullptr);
  // The running snapshot is untouched: a session holding it still sees the old rule.
  EXPECT_NE(running->policy.match({}, "dev01"), nullptr);
}

TEST_F(RunningConfigTest, WhatOnlyARestartChangesKeepsItsRunningValueAndIsNamed) {
  const auto running = load(kBase);
  std::string changed(kBase);
  changed.replace(changed.find("127.0.0.1:2222"), 14, "127.0.0.1:2300");
  changed.replace(changed.find("postgresql:///portcullis"), 24, "postgresql:///other");
  changed += "\n[rotation]\ncheck_interval = \"1m\"\n";
  const ReloadPlan plan = plan_reload(*running, config(changed));
  EXPECT_EQ(plan.needs_restart, (std::vector<std::string>{"[server] (other than its limits)",
                                                          "[database]", "[rotation]"}));
  EXPECT_EQ(plan.next->config.server.listen_port, 2222);
  EXPECT_EQ(plan.next->config.database.url, "postgresql:///portcullis");
  EXPECT_EQ(plan.next->config.rotation.check_interval, std::chrono::seconds(15));
}

TEST_F(RunningConfigTest, AnAuditStreamWithoutItsChannelIsRefusedAtLoad) {
  try {
    load(std::string(kBase) + "\n[alerts]\naudit_stream = \"webhook\"\n");
    FAIL() << "loaded";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("audit_stream names webhook"), std::string::npos)
        << e.what();
  }
}

TEST_F(RunningConfigTest, StateFilesGoUnderStateDirUnlessNamedOneByOne) {
  const Config beside = config(kBase);
  EXPECT_EQ(beside.server.state_dir, dir_.path() / "state");
  EXPECT_EQ(beside.vault.key_file, dir_.path() / "state/vault.key");

  const Config packaged = config(std::string(kBase).replace(
      0, 9, "[server]\nstate_dir = \"/var/lib/portcullis\"\nhost_key = \"keys/host\"\n"));
  EXPECT_EQ(packaged.server.state_dir, "/var/lib/portcullis");
  EXPECT_EQ(packaged.server.host_key, dir_.path() / "keys/host");
  EXPECT_EQ(packaged.vault.key_file, "/var/lib/portcullis/vault.key");
  EXPECT_EQ(packaged.recording.signing_key, "/var/lib/portcullis/signing.key");
  EXPECT_EQ(packaged.recording.spool_dir, "/var/lib/portcullis/spool");
  EXPECT_EQ(packaged.database.journal_file, "/var/lib/portcullis/database.journal");

  const Config relative =
      config(std::string(kBase).replace(0, 9, "[server]\nstate_dir = \"../var\"\n"));
  EXPECT_EQ(relative.vault.key_file, (dir_.path() / "../var/vault.key").lexically_normal());
}

TEST_F(RunningConfigTest, LogTargetAndFacility) {
  const Config syslog =
      config(std::string(kBase) + "\n[log]\ntarget = \"syslog\"\nsyslog_facility = \"authpriv\"\n");
  EXPECT_EQ(syslog.log.target, LogConfig::Target::syslog);
  EXPECT_EQ(syslog.log.syslog_facility, 10 << 3);
  EXPECT_THROW(config(std::string(kBase) + "\n[log]\ntarget = \"journal\"\n"), ConfigError);
  EXPECT_THROW(config(std::string(kBase) + "\n[log]\nsyslog_facility = \"kern\"\n"), ConfigError);
}

}  // namespace
}  // namespace portcullis
