// The auditor's commands end to end: `session list` filters on a real database, the progress
// bar of a long export on a real pseudo-terminal (and its absence on pipes), and interactive
// `play` driven by keys through a pseudo-terminal.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "recorder/keys.h"
#include "recorder/postgres_store.h"
#include "recorder/shipper.h"
#include "recorder/writer.h"
#include "tests/support/harness.h"
#include "tests/support/recording_builder.h"

namespace portcullis::e2e {
namespace {

using recorder::Event;
using recorder::EventKind;

std::string describe(const RunResult& r) {
  return "exit status " + std::to_string(r.exit_status) + "\n--- stdout:\n" +
         r.out.substr(0, 2000) + "\n--- stderr:\n" + r.err.substr(0, 2000);
}

// The public key line of the key test::build_recording signs with, in a file: what an auditor
// elsewhere passes as --pubkey so the recordings verify.
fs::path recording_pubkey_file() {
  static const TempDir dir("portcullis-pubkey");
  const fs::path file = dir / "node.pub";
  if (!fs::exists(file)) {
    write_file(file, recorder::public_key_line(test::recording_key().public_key(), "node1") + "\n");
  }
  return file;
}

// `portcullis` without a config file: the player's commands read .pcr files without one, and
// verify them with the public key given.
std::vector<std::string> portcullis_without_config(std::vector<std::string> args) {
  args.insert(args.begin(),
              {(bin_dir() / "portcullis").string(), "-c", "/nonexistent/portcullis.toml"});
  args.insert(args.end(), {"--pubkey", recording_pubkey_file().string()});
  return args;
}

// Writes a complete recording of `events` into `dir` as NAME.pcr, with a terminal of
// `cols` x `rows`.
fs::path write_recording(const TempDir& dir, const std::string& name, int cols, int rows,
                         const std::vector<Event>& events) {
  recorder::Header header = test::sample_header();
  header.cols = static_cast<std::uint16_t>(cols);
  header.rows = static_cast<std::uint16_t>(rows);
  const TempDir spool("portcullis-spool");
  const fs::path file = dir / (name + ".pcr");
  write_file(file, test::build_recording(spool.path(), header, events));
  return file;
}

// ---- session list -------------------------------------------------------------------------

// Sessions of alice and bob on db01 and web01 under three grants: one three hours old, one
// ended. Returns the grant ids in order (alice@db01, alice@web01, bob@db01).
std::vector<std::string> make_sessions(const Bastion& bastion) {
  const std::string grants = PostgresCluster::shared().query(
      bastion.database(),
      "INSERT INTO users (name) VALUES ('alice'), ('bob');"
      "INSERT INTO targets (name, host, port, host_key) VALUES ('db01', '127.0.0.1', 22, 'k'),"
      "  ('web01', '127.0.0.1', 22, 'k');"
      "INSERT INTO accounts (target_id, login, kind, sealed_secret) "
      "  SELECT id, 'root', 'key', decode(repeat('00', 64), 'hex') FROM targets ORDER BY id;"
      "INSERT INTO grants (user_id, account_id, reason, duration, starts_at, expires_at, "
      "  created_by) SELECT u.id, a.id, 'e2e', '1 day', now() - interval '5 hours', "
      "  now() + interval '1 day', 'e2e' FROM users u, accounts a JOIN targets t "
      "  ON t.id = a.target_id WHERE (u.name, t.name) IN (('alice', 'db01'), "
      "  ('alice', 'web01'), ('bob', 'db01')) ORDER BY u.name, t.name RETURNING id;");
  std::vector<std::string> ids;
  std::istringstream lines(grants);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && std::isdigit(static_cast<unsigned char>(line[0]))) ids.push_back(line);
  }
  EXPECT_EQ(ids.size(), 3u) << grants;
  PostgresCluster::shared().query(
      bastion.database(),
      "INSERT INTO sessions (grant_id, node, client, started_at) VALUES (" + ids[0] +
          ", 'e2e', '127.0.0.1:1', now() - interval '3 hours'), (" + ids[0] +
          ", 'e2e', '127.0.0.1:2', now()), (" + ids[1] +
          ", 'e2e', '127.0.0.1:3', now());"
          "INSERT INTO sessions (grant_id, node, client, ended_at, end_reason) VALUES (" +
          ids[2] + ", 'e2e', '127.0.0.1:4', now(), 'client_exit');");
  return ids;
}

// The clients ("127.0.0.1:N" -> N) of the sessions `session list ARGS --json` prints.
std::vector<int> listed(const Bastion& bastion, std::vector<std::string> args) {
  args.insert(args.begin(), {"session", "list", "--json"});
  const RunResult r = bastion.cli(args);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  std::vector<int> clients;
  for (const auto& session : nlohmann::json::parse(r.out)) {
    const std::string client = session.at("client");
    clients.push_back(std::stoi(client.substr(client.find(':') + 1)));
  }
  return clients;
}

TEST(SessionList, FiltersByUserTargetSinceAndGrant) {
  Bastion bastion;
  const std::vector<std::string> grants = make_sessions(bastion);
  using V = std::vector<int>;
  EXPECT_EQ(listed(bastion, {}), (V{1, 2, 3, 4}));
  EXPECT_EQ(listed(bastion, {"--user", "alice"}), (V{1, 2, 3}));
  EXPECT_EQ(listed(bastion, {"--target", "db01"}), (V{1, 2, 4}));
  EXPECT_EQ(listed(bastion, {"--user", "alice", "--target", "db01"}), (V{1, 2}));
  EXPECT_EQ(listed(bastion, {"--since", "1h"}), (V{2, 3, 4}));
  EXPECT_EQ(listed(bastion, {"--grant", grants[0]}), (V{1, 2}));
  EXPECT_EQ(listed(bastion, {"--grant", grants[0], "--since", "2h"}), (V{2}));
  EXPECT_EQ(listed(bastion, {"--grant", grants[2], "--active"}), V{});
  EXPECT_EQ(listed(bastion, {"--user", "bob", "--target", "web01"}), V{});

  // The same RFC 3339 forms as everywhere else: UTC, and with an offset.
  const std::string four_hours_ago = PostgresCluster::shared().query(
      bastion.database(),
      "SELECT to_char((now() - interval '4 hours') AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')");
  EXPECT_EQ(listed(bastion, {"--since", four_hours_ago, "--user", "alice"}), (V{1, 2, 3}));
  const std::string two_hours_ago_at_plus_2 =
      PostgresCluster::shared().query(bastion.database(),
                                      "SELECT to_char(now() AT TIME ZONE 'UTC', "
                                      "'YYYY-MM-DD\"T\"HH24:MI:SS\"+02:00\"')");
  EXPECT_EQ(listed(bastion, {"--since", two_hours_ago_at_plus_2, "--target", "db01"}), (V{2, 4}));

  // Values are parameters, never SQL.
  EXPECT_EQ(listed(bastion, {"--user", "alice' OR '1'='1"}), V{});

  const std::string table = bastion.cli_checked({"session", "list", "--target", "web01"});
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'), 1) << table;  // header + 1 row
  EXPECT_NE(table.find("127.0.0.1:3"), std::string::npos) << table;

  // `audit list` and `search` read --since the same way.
  const RunResult audit = bastion.cli({"audit", "list", "--since", four_hours_ago});
  EXPECT_EQ(audit.exit_status, 0) << describe(audit);
  EXPECT_EQ(bastion.cli({"search", "x", "--since", two_hours_ago_at_plus_2}).exit_status, 0);

  const RunResult bad = bastion.cli({"session", "list", "--since", "yesterday"});
  EXPECT_EQ(bad.exit_status, 1);
  EXPECT_NE(bad.err.find("--since: \"yesterday\" is neither"), std::string::npos) << bad.err;
  EXPECT_EQ(bastion.cli({"session", "list", "--grant", "-3"}).exit_status, 1);
}

// ---- progress on a terminal ---------------------------------------------------------------

// Enough coloured output that rendering it takes a good part of a second: well past the first
// frame of the progress bar.
std::vector<Event> long_output() {
  std::vector<Event> events;
  std::string block;
  for (int line = 0; line < 40; ++line) {
    block += "\x1b[1;32m" + std::to_string(line) +
             "\x1b[0m the quick brown fox jumps over the "
             "\x1b[4mlazy dog\x1b[0m \t and keeps running\r\n";
  }
  for (std::uint64_t i = 0; i < 6000; ++i) {
    events.push_back({EventKind::output, i * 1000, block});
  }
  return events;
}

TEST(PlayerProgress, BarOnATerminalNothingOnAPipe) {
  const TempDir dir("portcullis-progress");
  const fs::path pcr = write_recording(dir, "long", 80, 24, long_output());
  const fs::path out = dir / "long.txt";

  PtySession terminal(
      portcullis_without_config({"export", pcr.string(), "--format", "text", "-o", out.string()}));
  EXPECT_TRUE(terminal.expect(R"(\rexport \[[#.]+\] +[0-9]+%  ETA [0-9:-]+\x1b\[K)", 60s))
      << terminal.transcript().substr(0, 2000);
  EXPECT_EQ(terminal.wait_exit(60s), 0) << terminal.transcript().substr(0, 2000);
  // The bar is erased before the closing message, which starts on a clean line.
  const std::string& seen = terminal.transcript();
  const std::size_t erased = seen.rfind("\r\x1b[K");
  ASSERT_NE(erased, std::string::npos);
  EXPECT_EQ(seen.find("ETA", erased), std::string::npos);
  EXPECT_NE(seen.find("wrote text of session 42 to " + out.string(), erased), std::string::npos)
      << seen.substr(erased);

  // On pipes: the same export, and not a byte on stderr.
  const RunResult piped =
      run(portcullis_without_config({"export", pcr.string(), "--format", "text"}),
          RunOptions().with_timeout(120s));
  EXPECT_EQ(piped.exit_status, 0) << piped.err;
  EXPECT_EQ(piped.err, "");
  EXPECT_EQ(piped.out, read_file(out));
  const RunResult to_file =
      run(portcullis_without_config({"export", pcr.string(), "--format", "asciicast", "-o",
                                     (dir / "long.cast").string()}),
          RunOptions().with_timeout(120s));
  EXPECT_EQ(to_file.exit_status, 0) << to_file.err;
  EXPECT_EQ(to_file.err, "");
}

// `search` over stored recordings: quiet on a pipe too.
TEST(PlayerProgress, SearchIsQuietOnAPipe) {
  Bastion bastion;
  make_sessions(bastion);
  const std::string session = PostgresCluster::shared().query(
      bastion.database(), "SELECT id FROM sessions WHERE client = '127.0.0.1:2'");
  recorder::Header header = test::sample_header(std::stoll(session));
  const recorder::SigningKey key = recorder::SigningKey::load(bastion.dir() / "state/signing.key");
  auto created = recorder::SpoolWriter::create(bastion.dir() / "state/spool", header, key);
  auto& writer = std::get<recorder::SpoolWriter>(created);
  recorder::ChunkBuffer chunk;
  chunk.add({EventKind::output, 1000, "$ uptime\r\n up 3 days, needle in the haystack\r\n$ "});
  ASSERT_FALSE(writer.append(chunk));
  ASSERT_FALSE(writer.finish("client_exit"));
  recorder::PostgresRecordingStore store(PostgresCluster::shared().url(bastion.database()));
  std::string error;
  ASSERT_EQ(recorder::ship_spool_file(store, writer.path(), false, key.public_key(), error),
            recorder::ShipResult::shipped)
      << error;

  const RunResult found =
      bastion.cli({"search", "needle", "--user", "alice", "--since", "1h", "--json"});
  EXPECT_EQ(found.exit_status, 0) << describe(found);
  EXPECT_NE(found.out.find("\"session_id\": " + session), std::string::npos) << found.out;
  EXPECT_EQ(found.err, "");
  const RunResult elsewhere = bastion.cli({"search", "needle", "--target", "web01"});
  EXPECT_EQ(elsewhere.out, "SESSION  USER  TARGET  TIME  LINE\n") << describe(elsewhere);
}

// ---- interactive play ---------------------------------------------------------------------

// "tick-N" every second for two minutes on a 120x40 terminal; a resize to 200x60 at
// `resize_at` seconds when given.
fs::path ticking_recording(const TempDir& dir, std::optional<std::uint64_t> resize_at = {}) {
  std::vector<Event> events;
  for (std::uint64_t s = 0; s < 120; ++s) {
    if (resize_at && s == *resize_at) {
      events.push_back({EventKind::resize, s * 1'000'000, "", 200, 60});
    }
    events.push_back({EventKind::output, s * 1'000'000 + 1, "tick-" + std::to_string(s) + "\r\n"});
  }
  return write_recording(dir, "ticking", 120, 40, events);
}

int seconds_of(const std::string& offset) {
  const std::size_t colon = offset.find(':');
  return std::stoi(offset.substr(0, colon)) * 60 + std::stoi(offset.substr(colon + 1));
}

std::string offset_of(int seconds) {
  const std::string s = std::to_string(seconds % 60);
  return std::to_string(seconds / 60) + ":" + (s.size() == 1 ? "0" : "") + s;
}

// Waits for a status line drawn while paused; returns its position ("0:07").
std::string paused_position(PtySession& terminal) {
  const auto status = terminal.expect(R"(paused   ([0-9]+:[0-9]{2}) / 1:59)");
  if (!status) return "(no paused status line)";
  return status->substr(9, status->find(' ', 9) - 9);
}

// Waits for a status line drawn while paused at `seconds`: frames drawn before a key was read
// may still show the old position, a wrong seek never shows this one.
bool paused_at(PtySession& terminal, int seconds) {
  return terminal.expect("paused   " + offset_of(seconds) + " / 1:59", 5s).has_value();
}

// Autowrap back on, the cursor shown, the user's own screen back.
const char* const kRestore = "\x1b[?7h\x1b[?25h\x1b[?1049l";

TEST(PlayerPlay, KeysPauseSeekAndQuitOnASmallerTerminal) {
  const TempDir dir("portcullis-play");
  const fs::path pcr = ticking_recording(dir);
  PtySession terminal(portcullis_without_config({"play", pcr.string(), "--speed", "8"}), 24, 80);

  EXPECT_TRUE(terminal.expect(R"(\x1b\[\?1049h\x1b\[\?25l\x1b\[\?7l)")) << terminal.transcript();
  EXPECT_TRUE(terminal.expect("8x  \\[terminal 80x24 smaller than recorded 120x40\\]"))
      << terminal.transcript().substr(0, 3000);
  EXPECT_TRUE(terminal.expect("tick-2 "));
  EXPECT_TRUE(terminal.expect("playing  0:0[3-9] / 1:59  8x"));

  terminal.write(" ");
  const std::string position = paused_position(terminal);
  const std::size_t paused_from = terminal.transcript().size();
  // Three more frames over most of a second, which at 8x would be seconds of recording.
  for (int frame = 0; frame < 3; ++frame) {
    EXPECT_TRUE(terminal.expect("paused   " + position + " / 1:59")) << position;
  }
  EXPECT_EQ(terminal.transcript().find("playing", paused_from), std::string::npos);

  const int at = seconds_of(position);
  terminal.write("\x1b[C");  // right: +5 s
  EXPECT_TRUE(paused_at(terminal, at + 5));
  terminal.write("\x1b[A");  // up: +60 s
  EXPECT_TRUE(paused_at(terminal, at + 65));
  EXPECT_TRUE(terminal.expect("tick-" + std::to_string(at + 64) + " "));
  terminal.write("\x1b[D");  // left: -5 s
  EXPECT_TRUE(paused_at(terminal, at + 60));
  terminal.write("\x1b[B");  // down: -60 s
  EXPECT_TRUE(paused_at(terminal, at));

  terminal.write("q");
  EXPECT_EQ(terminal.wait_exit(10s), 0);
  const std::string& seen = terminal.transcript();
  const std::size_t restored = seen.rfind(kRestore);
  ASSERT_NE(restored, std::string::npos);
  EXPECT_EQ(seen.find("paused", restored), std::string::npos) << "drew after restoring";
}

TEST(PlayerPlay, NoticeFollowsViewerAndRecordedResizes) {
  const TempDir dir("portcullis-play");
  const fs::path pcr = ticking_recording(dir, 75);
  PtySession terminal(portcullis_without_config({"play", pcr.string()}), 50, 140);

  // Big enough: no notice; the speed is followed by the session.
  EXPECT_TRUE(terminal.expect("playing  0:0[0-9] / 1:59  1x  session 42"))
      << terminal.transcript().substr(0, 3000);
  terminal.resize(24, 80);
  EXPECT_TRUE(terminal.expect("1x  \\[terminal 80x24 smaller than recorded 120x40\\]"));
  terminal.resize(50, 140);
  EXPECT_TRUE(terminal.expect("1x  session 42"));

  // Up: +60 s, before the recorded resize, which then plays (at 4x, not to wait long).
  terminal.write("\x1b[A");
  EXPECT_TRUE(terminal.expect("playing  1:[0-9]{2} / 1:59  1x  session 42"));
  terminal.write("++");
  EXPECT_TRUE(terminal.expect("4x  \\[terminal 140x50 smaller than recorded 200x60\\]", 20s));

  terminal.write("\x03");  // Ctrl-C, which raw mode delivers as a key
  EXPECT_EQ(terminal.wait_exit(10s), 0);
  EXPECT_NE(terminal.transcript().rfind(kRestore), std::string::npos);
}

}  // namespace
}  // namespace portcullis::e2e
