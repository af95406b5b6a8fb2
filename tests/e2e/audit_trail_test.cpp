// An audit trail that cannot be cut short (issue 14, item 3), against the real portcullisd and
// PostgreSQL: the daemon signs the chain's head; `audit verify` catches the newest rows deleted
// by a superuser with triggers disabled, a chain rewritten with its hashes recomputed, a forged
// checkpoint, checkpoints signed by a key the auditor does not trust, a tail no daemon signed,
// and a rewritten past (`--anchor`); `[alerts] audit_stream` hands every row with its hash to
// a command the database cannot reach.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

class AuditTrail : public ::testing::Test {
 protected:
  void start(std::string_view extra_config = "") {
    if (!extra_config.empty()) bastion.append_config(extra_config);
    bastion.add_user("alice");
    bastion.start();
  }

  std::string sql(const std::string& statement) const {
    return PostgresCluster::shared().query(bastion.database(), statement);
  }

  // As a superuser who can switch the append-only triggers off.
  void tamper(const std::string& statements) const {
    sql("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only;" + statements +
        "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only;");
  }

  json head() const { return json::parse(bastion.cli_checked({"audit", "head", "--json"})); }

  // Waits until the daemon signed the current head; returns its row id.
  long long signed_head() const {
    long long id = 0;
    const bool signed_it = wait_until(
        [&] {
          const json now = head();
          id = now["id"].get<long long>();
          return now["checkpoint"].is_object() && now["checkpoint"]["last_id"] == now["id"];
        },
        20s);
    EXPECT_TRUE(signed_it) << head().dump() << bastion.log();
    return id;
  }

  // One more audit row, written by the CLI (not by the daemon).
  void write_row() { bastion.add_user("user" + random_hex(4)); }

  RunResult verify(std::vector<std::string> extra = {}) const {
    std::vector<std::string> args{"audit", "verify"};
    args.insert(args.end(), extra.begin(), extra.end());
    return bastion.cli(args);
  }

  Bastion bastion;
};

TEST_F(AuditTrail, TheDaemonSignsTheHeadAndVerifyChecksEverySignature) {
  start();
  write_row();
  const long long first = signed_head();
  write_row();
  write_row();
  const long long second = signed_head();
  EXPECT_GT(second, first);

  const json now = head();
  EXPECT_EQ(now["anchor"], std::to_string(second) + ":" + now["hash"].get<std::string>());
  EXPECT_EQ(now["checkpoint"]["last_hash"], now["hash"]);
  EXPECT_EQ(now["checkpoint"]["node"], "e2e");
  EXPECT_EQ(now["checkpoint"]["signature"].get<std::string>().size(), 128u);
  // The hash `audit list --json` shows is the one the checkpoint signed.
  const json rows = json::parse(bastion.cli_checked({"audit", "list", "--json"}));
  ASSERT_FALSE(rows.empty());
  EXPECT_EQ(rows.back()["id"], second);
  EXPECT_EQ(rows.back()["hash"], now["hash"]);

  const RunResult intact = verify({"--json"});
  ASSERT_EQ(intact.exit_status, 0) << intact.out << intact.err;
  const json report = json::parse(intact.out);
  EXPECT_EQ(report["intact"], true);
  EXPECT_GE(report["checkpoints"].get<int>(), 2);
  EXPECT_EQ(report["newest_checkpoint"]["last_id"], second);

  // Verified against the node's key as the auditor keeps it, not the database's copy.
  const std::string pubkey_line = bastion.cli_checked({"node", "pubkey"});
  const fs::path trusted = bastion.dir() / "trusted.pub";
  write_file(trusted, pubkey_line);
  EXPECT_EQ(verify({"--pubkey", trusted.string()}).exit_status, 0);
  // A key the auditor does not trust signed nothing they can accept.
  const fs::path other = bastion.dir() / "other.pub";
  write_file(other, "portcullis-ed25519 " + std::string(43, 'A') + "= elsewhere\n");
  const RunResult untrusted = verify({"--pubkey", other.string()});
  EXPECT_EQ(untrusted.exit_status, 4) << untrusted.out << untrusted.err;
  EXPECT_NE(untrusted.out.find("which no node registered"), std::string::npos) << untrusted.out;
}

TEST_F(AuditTrail, DeletingTheNewestRowsIsCaughtAndNamed) {
  start();
  write_row();
  const long long kept = signed_head();
  write_row();
  write_row();
  const long long last = signed_head();
  tamper("DELETE FROM audit_events WHERE id > " + std::to_string(kept) + ";");

  const RunResult broken = verify();
  EXPECT_EQ(broken.exit_status, 4) << broken.out << broken.err;
  EXPECT_NE(broken.out.find("rows after row " + std::to_string(kept) + " were deleted"),
            std::string::npos)
      << broken.out;
  EXPECT_NE(broken.out.find("signed row " + std::to_string(last)), std::string::npos) << broken.out;
  EXPECT_NE(broken.err.find("broken at row " + std::to_string(kept + 1)), std::string::npos)
      << broken.err;
}

TEST_F(AuditTrail, ARewrittenChainWithRecomputedHashesIsCaught) {
  start();
  write_row();
  write_row();
  const long long last = signed_head();
  // The superuser rewrites the newest row and recomputes its hash exactly as the software
  // would (the encoding in access/audit.cpp), so the chain alone still looks intact.
  const std::string at = "to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
  auto field = [](const std::string& text) {
    return "int8send(octet_length(" + text + ")::bigint) || convert_to(" + text + ", 'UTF8')";
  };
  tamper("UPDATE audit_events SET details = '{\"nothing\": \"to see\"}' WHERE id = " +
         std::to_string(last) + ";" + "UPDATE audit_events SET hash = sha256(" +
         field("'portcullis-audit-v1'") + " || " + field(at) + " || " + field("actor") + " || " +
         field("action") + " || " + field("object") + " || " + field("details::text") +
         " || int8send(32::bigint) || prev_hash) WHERE id = " + std::to_string(last) + ";");

  const RunResult chain_only = verify({"--json"});
  const json report = json::parse(chain_only.out);
  EXPECT_EQ(report["intact"], false) << chain_only.out;
  EXPECT_EQ(report["bad_row"], last);
  EXPECT_NE(report["problem"].get<std::string>().find("no longer has the hash"), std::string::npos)
      << chain_only.out;
  EXPECT_EQ(chain_only.exit_status, 4);
}

TEST_F(AuditTrail, AForgedCheckpointDoesNotVerify) {
  start();
  write_row();
  const long long last = signed_head();
  sql("INSERT INTO audit_checkpoints (node, key_fingerprint, last_id, last_hash, at, signature)"
      " SELECT node, key_fingerprint, last_id, last_hash, at, decode(repeat('ab', 64), 'hex')"
      " FROM audit_checkpoints ORDER BY id DESC LIMIT 1");
  const RunResult forged = verify();
  EXPECT_EQ(forged.exit_status, 4) << forged.out << forged.err;
  EXPECT_NE(forged.out.find("signature that does not verify"), std::string::npos) << forged.out;
  EXPECT_NE(forged.err.find("row " + std::to_string(last)), std::string::npos) << forged.err;
}

TEST_F(AuditTrail, AnAnchorKeptElsewhereProvesThePastUnchanged) {
  start();
  write_row();
  const json kept = head();
  const std::string anchor = kept["anchor"];
  write_row();

  const RunResult matched = verify({"--anchor", anchor});
  EXPECT_EQ(matched.exit_status, 0) << matched.out << matched.err;
  EXPECT_NE(matched.out.find("anchor " + anchor + " matches"), std::string::npos) << matched.out;

  std::string wrong = anchor;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  const RunResult mismatch = verify({"--anchor", wrong});
  EXPECT_EQ(mismatch.exit_status, 4);
  EXPECT_NE(mismatch.out.find("does not have the anchor's hash"), std::string::npos)
      << mismatch.out;

  const RunResult beyond = verify({"--anchor", "999999:" + kept["hash"].get<std::string>()});
  EXPECT_EQ(beyond.exit_status, 4);
  EXPECT_NE(beyond.out.find("rows were deleted from its end"), std::string::npos) << beyond.out;

  const RunResult malformed = verify({"--anchor", "12:xyz"});
  EXPECT_EQ(malformed.exit_status, 1);
  EXPECT_NE(malformed.err.find("expected ID:HASH"), std::string::npos) << malformed.err;
}

TEST_F(AuditTrail, RowsNoDaemonSignedAreReportedOnceTheyAreOlderThanExpected) {
  start();
  write_row();
  signed_head();
  ASSERT_EQ(bastion.stop(), 0);
  write_row();  // with no portcullisd running: nothing signs it
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(verify().exit_status, 0);  // within the default minute: a daemon may yet sign it
  const RunResult stale = verify({"--max-checkpoint-age", "1s"});
  EXPECT_EQ(stale.exit_status, 4) << stale.out << stale.err;
  EXPECT_NE(stale.out.find("newer than every checkpoint"), std::string::npos) << stale.out;
  EXPECT_NE(stale.out.find("no portcullisd has signed"), std::string::npos) << stale.out;

  bastion.start();  // the next run signs the head
  signed_head();
  EXPECT_EQ(verify({"--max-checkpoint-age", "1s"}).exit_status, 0);
}

TEST_F(AuditTrail, EveryRowIsStreamedWithItsHashToTheChosenChannel) {
  TempDir out;
  const fs::path stream = out / "audit.jsonl";
  start("[alerts]\ncommand = \"cat >> " + stream.string() + "; echo >> " + stream.string() +
        "\"\naudit_stream = \"command\"\n");
  write_row();
  write_row();
  const json rows = json::parse(bastion.cli_checked({"audit", "list", "--json"}));
  ASSERT_GE(rows.size(), 3u);
  std::map<long long, std::string> streamed;  // row id -> hash
  const bool all_there = wait_until(
      [&] {
        if (!fs::exists(stream)) return false;
        std::istringstream lines(read_file(stream));
        for (std::string line; std::getline(lines, line);) {
          if (line.empty()) continue;
          const json alert = json::parse(line);
          if (alert["kind"] != "audit") continue;
          streamed[alert["audit"]["id"].get<long long>()] = alert["audit"]["hash"];
        }
        return streamed.size() >= rows.size();
      },
      20s);
  ASSERT_TRUE(all_there) << streamed.size() << " of " << rows.size() << "\n" << bastion.log();
  for (const json& row : rows) {
    EXPECT_EQ(streamed[row["id"].get<long long>()], row["hash"]) << row.dump();
  }
}

}  // namespace
}  // namespace portcullis::e2e
