// Sessions through the real gateway are recorded: what was typed and shown, stdout and stderr
// apart, resizes and the exit; the recording reaches PostgreSQL, verifies, and survives a
// database outage and a SIGKILL of the daemon. Tampering with the exported file is caught.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <nlohmann/json.hpp>

#include "recorder/reader.h"
#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

class RecordedSession : public ::testing::Test {
 protected:
  // The id of the one session the bastion has seen.
  std::string session_id() {
    const json sessions = json::parse(gateway.bastion.cli_checked({"session", "list", "--json"}));
    EXPECT_EQ(sessions.size(), 1u);
    return sessions.empty() ? "0" : std::to_string(sessions.back()["id"].get<long long>());
  }

  // Waits until the recording of `id` is stored in `state`; returns `session show --json`.
  json wait_for_recording(const std::string& id, const std::string& state,
                          std::chrono::milliseconds timeout = 20s) {
    json shown;
    wait_until(
        [&] {
          const RunResult result = gateway.bastion.cli({"session", "show", id, "--json"});
          if (result.exit_status != 0) return false;
          shown = json::parse(result.out);
          return shown["recording"].is_object() && shown["recording"]["state"] == state;
        },
        timeout);
    return shown;
  }

  // Every event of the recording, exported with `recording get` as an auditor would.
  std::vector<recorder::Event> events_of(const std::string& id, const fs::path& file) {
    const RunResult got = gateway.bastion.cli({"recording", "get", id, "-o", file.string()});
    EXPECT_EQ(got.exit_status, 0) << got.err;
    return events_in(read_file(file));
  }

  // Every event of a recording of either form (live chunk records or archive segments).
  static std::vector<recorder::Event> events_in(const std::string& bytes) {
    recorder::RecordStream stream = recorder::RecordStream::over(bytes);
    std::vector<recorder::Event> events;
    recorder::ChunkDecoder decoder(stream.version());
    for (recorder::Chunk chunk; stream.next_chunk(chunk);) {
      for (recorder::Event& event : decoder.next(chunk)) events.push_back(event);
    }
    EXPECT_EQ(stream.damage(), "");
    return events;
  }

  static std::string all_of(const std::vector<recorder::Event>& events, recorder::EventKind kind) {
    std::string text;
    for (const recorder::Event& event : events) {
      if (event.kind == kind) text += event.data;
    }
    return text;
  }

  static bool has_marker(const std::vector<recorder::Event>& events, const std::string& text) {
    return std::any_of(events.begin(), events.end(), [&](const recorder::Event& e) {
      return e.kind == recorder::EventKind::marker && e.data == text;
    });
  }

  PtySession interactive() {
    return PtySession(
        ssh_tty_command(gateway.user_key.private_key, gateway.bastion.port(), gateway.login()));
  }

  Gateway gateway;
  TempDir work;
};

TEST_F(RecordedSession, InteractiveSessionHoldsWhatWasTypedAndShown) {
  {
    PtySession session = interactive();
    ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
    session.write("echo recorded-$((6*7))\r");
    ASSERT_TRUE(session.expect("recorded-42", 10s)) << session.transcript();
    session.resize(30, 100);
    session.write("stty size; exit 3\r");
    ASSERT_TRUE(session.expect("30 100", 10s)) << session.transcript();
    EXPECT_EQ(session.wait_exit(10s), 3);
  }
  const std::string id = session_id();
  const json shown = wait_for_recording(id, "complete");
  ASSERT_TRUE(shown["recording"].is_object()) << shown.dump(2);
  EXPECT_EQ(shown["recording"]["term"], "xterm");

  const fs::path file = work / "session.pcr";
  const std::vector<recorder::Event> events = events_of(id, file);
  // The node compacts a finished recording into its archive form; the live form is what the
  // tampering below is about.
  const RunResult live = gateway.bastion.cli(
      {"recording", "get", id, "--form", "live", "-o", (work / "live.pcr").string()});
  ASSERT_EQ(live.exit_status, 0) << live.err;
  EXPECT_EQ(events_in(read_file(work / "live.pcr")), events);
  EXPECT_NE(all_of(events, recorder::EventKind::input).find("echo recorded-$((6*7))"),
            std::string::npos);
  EXPECT_NE(all_of(events, recorder::EventKind::output).find("recorded-42"), std::string::npos);
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const recorder::Event& e) {
    return e.kind == recorder::EventKind::resize && e.cols == 100 && e.rows == 30;
  }));
  EXPECT_TRUE(has_marker(events, "exit_status 3"));

  const RunResult intact = gateway.bastion.cli({"verify", file.string()});
  EXPECT_EQ(intact.exit_status, 0) << intact.err;

  // One byte flipped inside the last chunk's compressed frame: verify names that chunk.
  const recorder::ParsedRecording parsed = recorder::parse(read_file(work / "live.pcr"));
  ASSERT_FALSE(parsed.chunks.empty());
  const recorder::Chunk& last = parsed.chunks.back();
  std::string bytes = read_file(work / "live.pcr");
  bytes[last.offset + last.record.size() - 8] ^= 0x01;
  write_file(work / "tampered.pcr", bytes);
  const RunResult tampered = gateway.bastion.cli({"verify", (work / "tampered.pcr").string()});
  EXPECT_EQ(tampered.exit_status, 4);
  EXPECT_NE(tampered.err.find("chunk " + std::to_string(last.seq) + " altered"), std::string::npos)
      << tampered.err;
}

// The node compacts a finished recording (format 4) into its archive form once it has shipped
// it: the chunk rows make way for segments, and every tool reads the result as before, verified
// with the node's original signature.
TEST_F(RecordedSession, FinishedRecordingIsCompactedAndStillVerifies) {
  {
    PtySession session = interactive();
    ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
    session.write("echo archived-$((6*7))\r");
    ASSERT_TRUE(session.expect("archived-42", 10s)) << session.transcript();
    session.write("exit\r");
    EXPECT_EQ(session.wait_exit(10s), 0);
  }
  const std::string id = session_id();
  ASSERT_TRUE(wait_for_recording(id, "complete")["recording"].is_object());
  json shown;
  wait_until(
      [&] {
        shown = json::parse(gateway.bastion.cli_checked({"session", "show", id, "--json"}));
        return shown["recording"]["archived"] == true;
      },
      20s);
  ASSERT_EQ(shown["recording"]["archived"], true) << shown.dump(2) << gateway.bastion.log();
  EXPECT_NE(gateway.bastion.log().find("recording of session " + id + " compacted"),
            std::string::npos);
  const PostgresCluster& db = PostgresCluster::shared();
  const std::string database = gateway.bastion.database();
  EXPECT_EQ(db.query(database, "SELECT count(*) FROM recording_chunks WHERE session_id = " + id),
            "0");
  EXPECT_NE(db.query(database, "SELECT count(*) FROM recording_segments WHERE session_id = " + id),
            "0");
  EXPECT_EQ(db.query(database, "SELECT format_version FROM recordings WHERE session_id = " + id),
            "4");

  // Verified with the node's public key only, in the stored form and both exports.
  const RunResult verified = gateway.bastion.cli({"verify", id});
  EXPECT_EQ(verified.exit_status, 0) << verified.err;
  write_file(work / "node.pub", gateway.bastion.cli_checked({"node", "pubkey"}) + "\n");
  for (const std::string form : {"live", "archive"}) {
    const fs::path file = work / (form + ".pcr");
    const RunResult got =
        gateway.bastion.cli({"recording", "get", id, "--form", form, "-o", file.string()});
    ASSERT_EQ(got.exit_status, 0) << got.err;
    EXPECT_NE(got.out.find(form + " form"), std::string::npos) << got.out;
    const RunResult checked =
        gateway.bastion.cli({"verify", file.string(), "--pubkey", (work / "node.pub").string()});
    EXPECT_EQ(checked.exit_status, 0) << form << ": " << checked.err;
    EXPECT_NE(all_of(events_in(read_file(file)), recorder::EventKind::output).find("archived-42"),
              std::string::npos);
  }
  // The player reads the archived recording from the database...
  const std::string end = std::to_string(shown["recording"]["duration_us"].get<double>() / 1e6);
  const RunResult screen = gateway.bastion.cli({"screen", id, "--at", end});
  EXPECT_EQ(screen.exit_status, 0) << screen.err;
  EXPECT_NE(screen.out.find("archived-42"), std::string::npos) << screen.out;
  const RunResult commands = gateway.bastion.cli({"commands", id});
  EXPECT_NE(commands.out.find("echo archived-$((6*7))"), std::string::npos) << commands.out;
  // ... and plays the exported archive, verified with the node key given.
  {
    PtySession play({(bin_dir() / "portcullis").string(), "-c", "/nonexistent/portcullis.toml",
                     "play", (work / "archive.pcr").string(), "--speed", "64", "--pubkey",
                     (work / "node.pub").string()},
                    24, 80);
    EXPECT_TRUE(play.expect("archived-42", 15s)) << play.transcript();
    EXPECT_EQ(play.transcript().find("NOT VERIFIED"), std::string::npos) << play.transcript();
    play.write("q");
    play.wait_exit(10s);
  }

  // A flipped byte in the archive's frame is found and located.
  std::string bytes = read_file(work / "archive.pcr");
  const recorder::ParsedRecording parsed = recorder::parse(bytes);
  ASSERT_TRUE(parsed.trailer);
  bytes[bytes.size() - parsed.trailer->record.size() - 10] ^= 0x01;
  write_file(work / "tampered.pcr", bytes);
  const RunResult tampered = gateway.bastion.cli(
      {"verify", (work / "tampered.pcr").string(), "--pubkey", (work / "node.pub").string()});
  EXPECT_EQ(tampered.exit_status, 4);
  EXPECT_NE(tampered.err.find("segment covering chunks 0.."), std::string::npos) << tampered.err;
}

// With `compact = false` the node keeps the chunks; `portcullis recording compact` does the same
// work for recordings stored so, audited. Chunk rows cannot be deleted while no segment holds
// them.
TEST_F(RecordedSession, RecordingCompactCommandAndTheChunkRowsGuard) {
  gateway.bastion.stop();
  gateway.bastion.add_recording_config("compact = false");
  gateway.bastion.start();
  const RunResult run = run_ssh(gateway.user_key.private_key, gateway.bastion.port(),
                                gateway.login(), {"echo kept-as-shipped"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const std::string id = session_id();
  const json shown = wait_for_recording(id, "complete");
  EXPECT_EQ(shown["recording"]["archived"], false);
  const PostgresCluster& db = PostgresCluster::shared();
  const std::string database = gateway.bastion.database();
  const std::string chunks =
      db.query(database, "SELECT count(*) FROM recording_chunks WHERE session_id = " + id);
  ASSERT_NE(chunks, "0");
  EXPECT_THROW(db.query(database, "DELETE FROM recording_chunks WHERE session_id = " + id),
               std::exception);
  EXPECT_THROW(
      db.query(database, "UPDATE recordings SET archived_at = now() WHERE session_id = " + id),
      std::exception);
  EXPECT_EQ(db.query(database, "SELECT count(*) FROM recording_chunks WHERE session_id = " + id),
            chunks);

  const RunResult compact = gateway.bastion.cli({"recording", "compact", id});
  ASSERT_EQ(compact.exit_status, 0) << compact.err;
  EXPECT_NE(compact.out.find("session " + id + ": compacted " + chunks + " chunks"),
            std::string::npos)
      << compact.out;
  EXPECT_EQ(db.query(database, "SELECT count(*) FROM recording_chunks WHERE session_id = " + id),
            "0");
  const RunResult again = gateway.bastion.cli({"recording", "compact", "--all"});
  EXPECT_EQ(again.exit_status, 0) << again.err;
  EXPECT_NE(again.out.find("0 recording(s) compacted"), std::string::npos) << again.out;
  EXPECT_NE(db.query(database,
                     "SELECT count(*) FROM audit_events WHERE action = 'recording.compacted' "
                     "AND object = 'session:" +
                         id + "'"),
            "0");
  const RunResult verified = gateway.bastion.cli({"verify", id});
  EXPECT_EQ(verified.exit_status, 0) << verified.err;
  const std::vector<recorder::Event> events = events_of(id, work / "compacted.pcr");
  EXPECT_EQ(all_of(events, recorder::EventKind::output), "kept-as-shipped\n");
  // Segments are as append-only as chunks.
  EXPECT_THROW(db.query(database, "DELETE FROM recording_segments WHERE session_id = " + id),
               std::exception);
}

TEST_F(RecordedSession, ExecKeepsStdoutAndStderrApart) {
  const RunResult run = run_ssh(gateway.user_key.private_key, gateway.bastion.port(),
                                gateway.login(), {"echo to-out; echo to-err >&2"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const std::string id = session_id();
  ASSERT_TRUE(wait_for_recording(id, "complete")["recording"].is_object());
  const std::vector<recorder::Event> events = events_of(id, work / "exec.pcr");
  EXPECT_EQ(all_of(events, recorder::EventKind::exec), "echo to-out; echo to-err >&2");
  EXPECT_EQ(all_of(events, recorder::EventKind::output), "to-out\n");
  EXPECT_EQ(all_of(events, recorder::EventKind::error_output), "to-err\n");
  EXPECT_TRUE(has_marker(events, "exit_status 0"));
}

TEST_F(RecordedSession, TypicalShellOutputCompressesToAtMostFifteenPercent) {
  const RunResult run = run_ssh(gateway.user_key.private_key, gateway.bastion.port(),
                                gateway.login(), {"ls -lR /usr/share 2>/dev/null; exit 0"},
                                RunOptions().with_stdout_file(work / "ls.txt"));
  ASSERT_EQ(run.exit_status, 0) << run.err;
  const json shown = wait_for_recording(session_id(), "complete");
  ASSERT_TRUE(shown["recording"].is_object());
  const double raw = shown["recording"]["raw_bytes"].get<double>();
  const double compressed = shown["recording"]["compressed_bytes"].get<double>();
  EXPECT_GT(raw, static_cast<double>(fs::file_size(work / "ls.txt")));
  EXPECT_LE(compressed / raw, 0.15) << compressed << " of " << raw << " bytes";
  std::cerr << "recording of ls -lR /usr/share: " << compressed << " of " << raw << " bytes ("
            << 100.0 * compressed / raw << "%)\n";
}

TEST_F(RecordedSession, DatabaseDownDuringTheSessionLosesNothing) {
  PostgresCluster& cluster = PostgresCluster::shared();
  {
    PtySession session = interactive();
    ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
    cluster.stop();
    session.write("echo while-the-database-is-down\r");
    EXPECT_TRUE(session.expect("while-the-database-is-down\r\n", 10s)) << session.transcript();
    session.write("exit\r");
    session.wait_exit(10s);
    cluster.start();
  }
  const std::string id = session_id();
  const json shown = wait_for_recording(id, "complete", 30s);
  ASSERT_TRUE(shown["recording"].is_object()) << shown.dump(2) << gateway.bastion.log();
  const std::vector<recorder::Event> events = events_of(id, work / "outage.pcr");
  EXPECT_NE(all_of(events, recorder::EventKind::output).find("while-the-database-is-down"),
            std::string::npos);
}

TEST_F(RecordedSession, SigkillLeavesAnIncompleteRecordingThatTheNextStartShips) {
  {
    PtySession session = interactive();
    ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
    session.write("echo before-the-crash\r");
    ASSERT_TRUE(session.expect("before-the-crash\r\n", 10s)) << session.transcript();
    // The chunk holding it is cut within a second and synced soon after.
    const fs::path spool = gateway.bastion.dir() / "state/spool" / (session_id() + ".pcr");
    ASSERT_TRUE(wait_until(
        [&] { return fs::exists(spool) && !recorder::parse(read_file(spool)).chunks.empty(); },
        15s));
    gateway.bastion.kill();
    session.wait_exit(10s);
  }
  gateway.bastion.start();
  const std::string id = session_id();
  const json shown = wait_for_recording(id, "incomplete");
  ASSERT_TRUE(shown["recording"].is_object()) << shown.dump(2) << gateway.bastion.log();
  EXPECT_FALSE(shown["recording"]["incomplete_reason"].get<std::string>().empty());

  const fs::path file = work / "crashed.pcr";
  const std::vector<recorder::Event> events = events_of(id, file);
  EXPECT_NE(all_of(events, recorder::EventKind::output).find("before-the-crash"),
            std::string::npos);
  const RunResult verified = gateway.bastion.cli({"verify", file.string()});
  EXPECT_EQ(verified.exit_status, 4);
  EXPECT_NE(verified.err.find("incomplete"), std::string::npos) << verified.err;
  EXPECT_EQ(verified.err.find("altered"), std::string::npos) << verified.err;
}

// [recording] sync = "filesystem": every session writes its own chunks and one syncfs makes them
// all durable. Two sessions at once are recorded whole, and their recordings verify.
TEST_F(RecordedSession, SessionsSyncedTogetherAreRecordedWhole) {
  gateway.bastion.stop();
  gateway.bastion.add_recording_config("sync = \"filesystem\"");
  gateway.bastion.start();
  PtySession session = interactive();
  ASSERT_TRUE(session.expect("ends at", 15s)) << session.transcript();
  session.write("echo typed-$((6*7))\r");
  ASSERT_TRUE(session.expect("typed-42", 10s)) << session.transcript();
  const RunResult run = run_ssh(gateway.user_key.private_key, gateway.bastion.port(),
                                gateway.login(), {"seq 1 20000 | tail -n 1"});
  ASSERT_EQ(run.exit_status, 0) << run.err;
  session.write("exit\r");
  EXPECT_EQ(session.wait_exit(10s), 0);
  EXPECT_NE(gateway.bastion.log().find("made durable together, one syncfs at a time"),
            std::string::npos);

  const json sessions = json::parse(gateway.bastion.cli_checked({"session", "list", "--json"}));
  ASSERT_EQ(sessions.size(), 2u);
  std::string outputs;
  for (const json& listed : sessions) {
    const std::string id = std::to_string(listed["id"].get<long long>());
    ASSERT_TRUE(wait_for_recording(id, "complete")["recording"].is_object()) << id;
    const fs::path file = work / (id + ".pcr");
    outputs += all_of(events_of(id, file), recorder::EventKind::output);
    const RunResult verified = gateway.bastion.cli({"verify", file.string()});
    EXPECT_EQ(verified.exit_status, 0) << verified.err;
  }
  EXPECT_NE(outputs.find("typed-42"), std::string::npos);
  EXPECT_NE(outputs.find("20000\n"), std::string::npos);
}

// The spool folder on a 64 KiB tmpfs: the session fills it and is ended with a message rather
// than running on unrecorded.
TEST_F(RecordedSession, FullDiskEndsTheSession) {
  const fs::path spool = gateway.bastion.dir() / "state/spool";
  if (::mount("tmpfs", spool.c_str(), "tmpfs", 0, "size=64k") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN): " << std::strerror(errno);
  }
  const RunResult run =
      run_ssh(gateway.user_key.private_key, gateway.bastion.port(), gateway.login(),
              {"head -c 3000000 /dev/urandom | base64; sleep 5"}, RunOptions().with_timeout(30s));
  ::umount(spool.c_str());
  EXPECT_NE(run.exit_status, 0);
  EXPECT_NE(run.err.find("the session recording cannot be written"), std::string::npos) << run.err;
}

}  // namespace
}  // namespace portcullis::e2e
