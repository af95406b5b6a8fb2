// Recordings in PostgreSQL and the auditor's commands: a spool file written with the library is
// shipped, exported with `recording get`, and checked with `verify`, by session and by file.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "recorder/keys.h"
#include "recorder/postgres_store.h"
#include "recorder/reader.h"
#include "recorder/shipper.h"
#include "recorder/writer.h"
#include "tests/e2e/session_row.h"
#include "tests/support/harness.h"
#include "tests/support/recording_builder.h"

namespace portcullis::e2e {
namespace {

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
  recorder::PostgresRecordingStore store(PostgresCluster::shared().url(bastion.database()));
  const recorder::SigningKey key = recorder::SigningKey::load(bastion.dir() / "state/signing.key");
  return recorder::ship_spool_file(store, spool, crashed, key.public_key(), error);
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

// portcullisd registers its public key at start and writes the .pub file; `verify` and
// `node pubkey` then need no secret key, and a recording signed by any other key fails.
TEST(RecordingCli, VerifyUsesTheStoredNodeKeysOnly) {
  Bastion bastion;
  const fs::path secret = bastion.dir() / "state/signing.key";
  EXPECT_TRUE(fs::exists(bastion.dir() / "state/signing.key.pub"));  // written by init
  fs::remove(bastion.dir() / "state/signing.key.pub");
  bastion.start();
  EXPECT_EQ(PostgresCluster::shared().query(bastion.database(), "SELECT node FROM node_keys"),
            "e2e");
  EXPECT_TRUE(fs::exists(bastion.dir() / "state/signing.key.pub"));  // made again at start
  EXPECT_EQ(fs::status(secret).permissions() & (fs::perms::group_all | fs::perms::others_all),
            fs::perms::none);
  const std::int64_t id = make_session(bastion);
  std::string error;
  ASSERT_EQ(ship(bastion, write_spool(bastion, id, 2, true), false, error),
            recorder::ShipResult::shipped)
      << error;
  const std::string pubkey = bastion.cli_checked({"node", "pubkey"});

  // The secret key and its .pub file gone: the database still knows the key.
  const fs::path moved = bastion.dir() / "signing.key.elsewhere";
  fs::rename(secret, moved);
  fs::remove(bastion.dir() / "state/signing.key.pub");
  EXPECT_NE(bastion.cli_checked({"verify", std::to_string(id)}).find("intact and complete"),
            std::string::npos);
  fs::rename(moved, secret);
  EXPECT_EQ(bastion.cli_checked({"node", "pubkey"}), pubkey);

  // Signed by a key no node registered.
  const std::int64_t other = std::stoll(PostgresCluster::shared().query(
      bastion.database(),
      "INSERT INTO sessions (grant_id, node, client) SELECT id, 'e2e', '127.0.0.1:50001' "
      "FROM grants RETURNING id;"));
  const recorder::SigningKey stranger = test::new_signing_key();
  auto created =
      recorder::SpoolWriter::create(bastion.dir() / "state/spool", header(other), stranger);
  auto& writer = std::get<recorder::SpoolWriter>(created);
  recorder::ChunkBuffer buffer;
  buffer.add({recorder::EventKind::output, 0, "forged\r\n"});
  ASSERT_FALSE(writer.append(buffer));
  ASSERT_FALSE(writer.finish("client_exit"));
  const fs::path forged = writer.path();
  const RunResult verify = bastion.cli({"verify", forged.string()});
  EXPECT_EQ(verify.exit_status, 4);
  EXPECT_NE(verify.err.find("not signed by a known node key"), std::string::npos) << verify.err;
  const RunResult screen = bastion.cli({"screen", forged.string(), "--at", "0", "--json"});
  EXPECT_EQ(screen.exit_status, 0) << screen.err;
  EXPECT_NE(screen.err.find("NOT VERIFIED: not signed by a known node key"), std::string::npos)
      << screen.err;
  const nlohmann::json json = nlohmann::json::parse(screen.out);
  EXPECT_EQ(json["verified"], false);
  EXPECT_EQ(json["lines"][0], "forged");
}

// A recording cut short plays what it holds, and every command says so: stderr, and the
// verified field of --json.
TEST(RecordingCli, PlayerCommandsSayWhenARecordingIsTruncated) {
  Bastion bastion;
  const std::int64_t id = make_session(bastion);
  const fs::path spool = write_spool(bastion, id, 4, true);
  const recorder::ParsedRecording parsed = recorder::parse(read_file(spool));
  const fs::path cut = bastion.dir() / "cut.pcr";
  write_file(cut, read_file(spool).substr(0, parsed.chunks[2].offset + 20));

  const RunResult intact = bastion.cli({"screen", spool.string(), "--at", "3", "--json"});
  EXPECT_EQ(intact.err, "");
  EXPECT_EQ(nlohmann::json::parse(intact.out)["verified"], true) << intact.out;

  const RunResult screen = bastion.cli({"screen", cut.string(), "--at", "1", "--json"});
  EXPECT_EQ(screen.exit_status, 0) << screen.err;
  const nlohmann::json json = nlohmann::json::parse(screen.out);
  EXPECT_EQ(json["verified"], false);
  EXPECT_EQ(json["verification"].get<std::string>().rfind("truncated after chunk 1", 0), 0u)
      << json;
  EXPECT_NE(screen.err.find("NOT VERIFIED: truncated after chunk 1"), std::string::npos)
      << screen.err;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"commands", cut.string()},
                                               {"export", cut.string(), "--format", "text"},
                                               {"export", cut.string(), "--format", "asciicast"}}) {
    const RunResult r = bastion.cli(args);
    EXPECT_EQ(r.exit_status, 0) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find("NOT VERIFIED"), std::string::npos) << args[0] << ": " << r.err;
  }
}

// One unreadable recording does not hide the others' matches; it is named.
TEST(RecordingCli, SearchNamesAnUnreadableRecordingAndGoesOn) {
  Bastion bastion;
  const std::int64_t broken = make_session(bastion);
  const std::int64_t good = std::stoll(PostgresCluster::shared().query(
      bastion.database(),
      "INSERT INTO sessions (grant_id, node, client) SELECT id, 'e2e', '127.0.0.1:50001' "
      "FROM grants RETURNING id;"));
  std::string error;
  for (const std::int64_t id : {broken, good}) {
    ASSERT_EQ(ship(bastion, write_spool(bastion, id, 3, true), false, error),
              recorder::ShipResult::shipped)
        << error;
  }
  // The stored header is protected by a trigger: the damage is done as a superuser would.
  PostgresCluster::shared().query(
      bastion.database(),
      "ALTER TABLE recordings DISABLE TRIGGER USER;"
      "UPDATE recordings SET header = '\\x0102030405060708'::bytea WHERE session_id = " +
          std::to_string(broken) + "; ALTER TABLE recordings ENABLE TRIGGER USER;");
  const RunResult r = bastion.cli({"search", "file-1"});
  EXPECT_EQ(r.exit_status, 0) << r.err;
  EXPECT_NE(r.err.find("session " + std::to_string(broken) + " could not be read"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.out.find(std::to_string(good) + "  "), std::string::npos) << r.out;
}

// An OSC 52 in an exec command line (it would set the auditor's clipboard) is shown, not sent;
// --json keeps it exactly.
TEST(RecordingCli, RecordedCommandLinesAreInert) {
  Bastion bastion;
  const std::int64_t id = make_session(bastion);
  const recorder::SigningKey key = recorder::SigningKey::load(bastion.dir() / "state/signing.key");
  auto created = recorder::SpoolWriter::create(bastion.dir() / "state/spool", header(id), key);
  auto& writer = std::get<recorder::SpoolWriter>(created);
  const std::string command =
      "echo \x1b]52;c;cm0gLXJmIH4=\x07"
      "done\xc2\x9b"
      "2J";
  recorder::ChunkBuffer buffer;
  buffer.add({recorder::EventKind::exec, 10, command});
  buffer.add({recorder::EventKind::output, 20, "done\r\n"});
  ASSERT_FALSE(writer.append(buffer));
  ASSERT_FALSE(writer.finish("client_exit"));
  const std::string file = writer.path().string();

  const std::string text = bastion.cli_checked({"commands", file});
  EXPECT_EQ(text, "0:00  echo \\x1b]52;c;cm0gLXJmIH4=\\x07done\\u009b2J");
  const nlohmann::json json =
      nlohmann::json::parse(bastion.cli_checked({"commands", file, "--json"}));
  EXPECT_EQ(json[0]["line"], command);
  EXPECT_EQ(json[0]["verified"], true);
}

}  // namespace
}  // namespace portcullis::e2e
