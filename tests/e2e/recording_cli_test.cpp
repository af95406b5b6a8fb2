// Recordings in PostgreSQL and the auditor's commands: a spool file written with the library is
// shipped, exported with `recording get`, and checked with `verify`, by session and by file.
#include <gtest/gtest.h>

#include <pqxx/pqxx>

#include "recorder/recorder.h"
#include "tests/e2e/harness.h"

namespace portcullis::e2e {
namespace {

// A session row to hang a recording on: user, target, account and grant made in SQL, since
// no sshd is needed for this.
std::int64_t make_session(const Bastion& bastion) {
  const std::string id = PostgresCluster::shared().query(
      bastion.database(),
      "INSERT INTO users (name) VALUES ('alice');"
      "INSERT INTO targets (name, host, port, host_key) VALUES ('db01', '127.0.0.1', 22, 'k');"
      "INSERT INTO accounts (target_id, login, kind, sealed_secret) "
      "  SELECT id, 'postgres', 'key', decode(repeat('00', 64), 'hex') FROM targets;"
      "INSERT INTO grants (user_id, account_id, reason, duration, starts_at, expires_at, "
      "  created_by) SELECT u.id, a.id, 'INC-1 disk full', '1 hour', now(), "
      "  now() + interval '1 hour', 'e2e' FROM users u, accounts a;"
      "INSERT INTO sessions (grant_id, node, client) SELECT id, 'e2e', '127.0.0.1:50000' "
      "  FROM grants RETURNING id;");
  return std::stoll(id.substr(id.find_last_of('\n') + 1));
}

recorder::Header header(std::int64_t session_id) {
  recorder::Header h;
  h.session_id = session_id;
  h.node = "e2e";
  h.user = "alice";
  h.target = "db01";
  h.login = "postgres";
  h.reason = "INC-1 disk full";
  h.approvals = {{"bob", recorder::Clock::now()}};
  h.client = "127.0.0.1:50000";
  h.started_at = recorder::Clock::now();
  h.cols = 80;
  h.rows = 24;
  h.term = "xterm";
  return h;
}

// Writes `chunks` chunks of shell-like output into the bastion's spool; finishes if asked.
fs::path write_spool(const Bastion& bastion, std::int64_t session_id, int chunks, bool finish) {
  const recorder::SigningKey key = recorder::SigningKey::load(bastion.dir() / "state/signing.key");
  auto created =
      recorder::SpoolWriter::create(bastion.dir() / "state/spool", header(session_id), key);
  auto& writer = std::get<recorder::SpoolWriter>(created);
  for (int i = 0; i < chunks; ++i) {
    recorder::ChunkBuffer buffer;
    const auto at = static_cast<std::uint64_t>(i) * 1'000'000;
    buffer.add({recorder::EventKind::input, at + 1, "ls\r"});
    buffer.add({recorder::EventKind::output, at + 500, "file-" + std::to_string(i) + "\r\n$ "});
    EXPECT_FALSE(writer.append(buffer));
  }
  if (finish) {
    EXPECT_FALSE(writer.finish("client_exit"));
  }
  return writer.path();
}

recorder::ShipResult ship(const Bastion& bastion, const fs::path& spool, bool crashed,
                          std::string& error) {
  pqxx::connection conn(PostgresCluster::shared().url(bastion.database()));
  const recorder::SigningKey key = recorder::SigningKey::load(bastion.dir() / "state/signing.key");
  return recorder::ship_spool_file(conn, spool, crashed, key.public_key(), error);
}

TEST(RecordingCli, ShipGetAndVerify) {
  Bastion bastion;
  const std::int64_t id = make_session(bastion);
  const std::string session = std::to_string(id);
  const fs::path spool = write_spool(bastion, id, 4, true);
  const std::string spool_bytes = read_file(spool);

  std::string error;
  ASSERT_EQ(ship(bastion, spool, false, error), recorder::ShipResult::shipped) << error;
  EXPECT_FALSE(fs::exists(spool));
  EXPECT_EQ(PostgresCluster::shared().query(bastion.database(),
                                            "SELECT state || ' ' || chunk_count FROM recordings"),
            "complete 4");

  const fs::path pcr = bastion.dir() / "evidence.pcr";
  const std::string got = bastion.cli_checked({"recording", "get", session, "-o", pcr.string()});
  EXPECT_NE(got.find("4 chunks"), std::string::npos) << got;
  EXPECT_EQ(read_file(pcr), spool_bytes);

  EXPECT_NE(bastion.cli_checked({"verify", session}).find("intact and complete"),
            std::string::npos);
  EXPECT_NE(bastion.cli_checked({"verify", pcr.string()}).find("4 chunks"), std::string::npos);

  // Elsewhere: only the file and the public key line, no config file, no database.
  const fs::path pubkey = bastion.dir() / "node.pub";
  write_file(pubkey, bastion.cli_checked({"node", "pubkey"}) + "\n");
  EXPECT_EQ(read_file(pubkey).rfind("portcullis-ed25519 ", 0), 0u);
  const std::vector<std::string> elsewhere{(bin_dir() / "portcullis").string(), "verify",
                                           pcr.string(), "--pubkey", pubkey.string()};
  const RunResult ok =
      run(elsewhere, RunOptions().with_env({"PORTCULLIS_CONFIG=/nonexistent/portcullis.toml"}));
  EXPECT_EQ(ok.exit_status, 0) << ok.err;

  std::string flipped = read_file(pcr);
  flipped[flipped.size() / 2] ^= 0x01;
  write_file(pcr, flipped);
  const RunResult bad = bastion.cli({"verify", pcr.string()});
  EXPECT_EQ(bad.exit_status, 4);
  EXPECT_NE(bad.err.find(" altered"), std::string::npos) << bad.err;

  const std::string json = bastion.cli_checked({"session", "show", session, "--json"});
  EXPECT_NE(json.find("\"state\": \"complete\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"reason\": \"INC-1 disk full\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"approver\": \"bob\""), std::string::npos) << json;
  const std::string text = bastion.cli_checked({"session", "show", session});
  EXPECT_NE(text.find("recording    complete, 4 chunks"), std::string::npos) << text;
}

TEST(RecordingCli, CrashedSpoolIsStoredIncomplete) {
  Bastion bastion;
  const std::int64_t id = make_session(bastion);
  const fs::path spool = write_spool(bastion, id, 3, false);
  // A write torn by the crash: the start of a fourth chunk record.
  const std::string whole = read_file(spool);
  write_file(spool, whole + std::string("\x02\x40\x00\x00\x00partial", 12));

  std::string error;
  EXPECT_EQ(ship(bastion, spool, false, error), recorder::ShipResult::partial);
  EXPECT_TRUE(fs::exists(spool));
  ASSERT_EQ(ship(bastion, spool, true, error), recorder::ShipResult::shipped) << error;
  EXPECT_FALSE(fs::exists(spool));
  EXPECT_EQ(PostgresCluster::shared().query(
                bastion.database(),
                "SELECT state || ' ' || chunk_count || ' ' || incomplete_reason FROM recordings"),
            "incomplete 3 the node stopped before the session ended: truncated after chunk 2: "
            "chunk 3 at offset " +
                std::to_string(whole.size()) + " is cut off");

  const RunResult verify = bastion.cli({"verify", std::to_string(id)});
  EXPECT_EQ(verify.exit_status, 4);
  EXPECT_NE(verify.err.find("incomplete: no trailer after chunk 2"), std::string::npos)
      << verify.err;
}

// The player's commands on a stored recording, named by session id.
TEST(RecordingCli, PlayerCommandsReadTheDatabase) {
  Bastion bastion;
  const std::int64_t id = make_session(bastion);
  const std::string session = std::to_string(id);
  std::string error;
  ASSERT_EQ(ship(bastion, write_spool(bastion, id, 4, true), false, error),
            recorder::ShipResult::shipped)
      << error;

  EXPECT_EQ(bastion.cli_checked({"screen", session, "--at", "2.5"}),
            "file-0\n$ file-1\n$ file-2\n$");
  const std::string found = bastion.cli_checked({"search", "file-2", "--user", "alice", "--json"});
  EXPECT_NE(found.find("\"session_id\": " + session), std::string::npos) << found;
  EXPECT_NE(found.find("\"at\": \"0:02\""), std::string::npos) << found;
  EXPECT_EQ(bastion.cli_checked({"search", "file-2", "--user", "bob"}),
            "SESSION  USER  TARGET  TIME  LINE");
  const auto rows = [&](const std::vector<std::string>& args) {
    const std::string table = bastion.cli_checked(args);
    return std::count(table.begin(), table.end(), '\n');
  };
  EXPECT_EQ(rows({"search", "file-[13]", "--regex", "--since", "1h"}), 2);  // + header
  EXPECT_EQ(rows({"search", "file-", "--target", "db01"}), 4);
  const std::string cast = bastion.cli_checked({"export", session, "--format", "asciicast"});
  EXPECT_NE(cast.find("grant "), std::string::npos) << cast;
}

}  // namespace
}  // namespace portcullis::e2e
