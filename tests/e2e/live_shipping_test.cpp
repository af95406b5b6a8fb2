// Live shipping (issue 16, item 1): the chunks of a running session reach PostgreSQL while it
// runs, about a second behind the spool; a SIGKILL of the node holding it then loses at most
// that last second from the database, and the next start completes the recording as
// incomplete from the spool, byte for byte.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "recorder/postgres_store.h"
#include "recorder/reader.h"
#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using nlohmann::json;

// The session prints a numbered line every 100 ms for ten seconds.
constexpr const char* kTicker = "for i in $(seq 1 100); do echo line $i; sleep 0.1; done";
constexpr int kLinesPerSecond = 10;
// The database is at most about a second behind the spool (a chunk is cut a second after its
// first event, and the shipper stores what was cut about every second). The bound allows 2.5 s:
// the CI machine runs other tests beside this one, and a loaded box schedules the shipper late.
constexpr double kAllowedLagSeconds = 2.5;

// The highest "line N" in `text`, 0 when there is none.
int last_line(const std::string& text) {
  static const std::regex line("line ([0-9]+)");
  int last = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator();
       ++it) {
    last = std::max(last, std::stoi((*it)[1]));
  }
  return last;
}

class LiveShipping : public ::testing::Test {
 protected:
  std::vector<std::string> ssh_argv(const std::string& command) const {
    std::vector<std::string> argv{"ssh"};
    const auto options = ssh_client_options(gateway.user_key.private_key, gateway.bastion.port());
    argv.insert(argv.end(), options.begin(), options.end());
    argv.push_back(gateway.login() + "@127.0.0.1");
    argv.push_back(command);
    return argv;
  }

  long long running_session() const {
    json listed;
    wait_until(
        [&] {
          listed = json::parse(gateway.bastion.cli_checked({"session", "list", "--json"}));
          return !listed.empty();
        },
        20s);
    return listed.empty() ? 0 : listed.back()["id"].get<long long>();
  }

  // state|chunk_count of the stored recording, "" when there is none yet.
  std::string stored(long long id) const {
    return PostgresCluster::shared().query(
        gateway.bastion.database(),
        "SELECT state || '|' || chunk_count FROM recordings WHERE "
        "session_id = " +
            std::to_string(id));
  }

  // Everything the database holds of the session's output, read as an auditor's tools would.
  std::string stored_output(long long id) const {
    recorder::PostgresRecordingStore store(
        PostgresCluster::shared().url(gateway.bastion.database()));
    const recorder::ParsedRecording parsed = recorder::parse(store.load(id));
    std::string output;
    recorder::ChunkDecoder decoder(parsed.version);
    for (const recorder::Chunk& chunk : parsed.chunks) {
      for (const recorder::Event& event : decoder.next(chunk)) {
        if (event.kind == recorder::EventKind::output) output += event.data;
      }
    }
    return output;
  }

  // Reads what the client has printed so far into `seen`, without waiting.
  static void read_available(PipedProcess& client, std::string& seen) {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(client.output(), buffer, sizeof buffer)) > 0) {
      seen.append(buffer, static_cast<std::size_t>(n));
    }
  }

  Gateway gateway;
  TempDir work;
};

TEST_F(LiveShipping, SigkillLosesAtMostTheLastSecondOfARunningSession) {
  PipedProcess client(ssh_argv(kTicker));
  const long long id = running_session();
  ASSERT_NE(id, 0) << gateway.bastion.log();

  // While the session runs, the database holds its recording, growing.
  std::string seen;
  std::string first;
  ASSERT_TRUE(wait_until(
      [&] {
        read_available(client, seen);
        first = stored(id);
        return first.starts_with("recording|") && first != "recording|0";
      },
      10s))
      << "stored: " << first << "\n"
      << gateway.bastion.log();
  ASSERT_TRUE(wait_until(
      [&] {
        read_available(client, seen);
        const std::string now = stored(id);
        return now.starts_with("recording|") && now != first;
      },
      5s))
      << "the chunk count stays at " << first;

  // Half-way through, the node dies. Whatever the client has printed by then, the database
  // holds all but about the last second of it.
  ASSERT_TRUE(wait_until(
      [&] {
        read_available(client, seen);
        return last_line(seen) >= 50;
      },
      15s))
      << seen;
  gateway.bastion.kill();
  wait_until([&] { return client.exit_status().has_value(); }, 10s);
  read_available(client, seen);
  const int last_seen = last_line(seen);
  const int last_stored = last_line(stored_output(id));
  EXPECT_GE(last_stored, last_seen - static_cast<int>(kAllowedLagSeconds * kLinesPerSecond))
      << "the client saw line " << last_seen << ", the database holds up to line " << last_stored;
  EXPECT_LE(last_stored, last_seen);
  std::cerr << "client saw line " << last_seen << " before the SIGKILL; the database held line "
            << last_stored << "\n";

  // The next start stores the rest from the spool, as incomplete, and the recording verifies up
  // to where the crash cut it.
  gateway.bastion.start();
  ASSERT_TRUE(wait_until([&] { return stored(id).starts_with("incomplete|"); }, 20s))
      << stored(id) << "\n"
      << gateway.bastion.log();
  EXPECT_GE(last_line(stored_output(id)), last_stored);
  const fs::path file = work / "crashed.pcr";
  const RunResult got =
      gateway.bastion.cli({"recording", "get", std::to_string(id), "-o", file.string()});
  ASSERT_EQ(got.exit_status, 0) << got.err;
  const RunResult verified = gateway.bastion.cli({"verify", file.string()});
  EXPECT_EQ(verified.exit_status, 4) << verified.err;
  EXPECT_NE(verified.err.find("incomplete"), std::string::npos) << verified.err;
  EXPECT_EQ(verified.err.find("altered"), std::string::npos) << verified.err;
}

TEST_F(LiveShipping, SwitchedOffTheRecordingWaitsForTheEndOfTheSession) {
  gateway.bastion.stop();
  gateway.bastion.add_recording_config("live_shipping = false");
  gateway.bastion.start();
  PipedProcess client(ssh_argv("echo started; sleep 3; echo done"));
  const long long id = running_session();
  ASSERT_NE(id, 0) << gateway.bastion.log();
  std::string seen;
  ASSERT_TRUE(wait_until(
      [&] {
        read_available(client, seen);
        return seen.find("started") != std::string::npos;
      },
      10s));
  std::this_thread::sleep_for(1500ms);  // a live pass would have stored the first chunk
  EXPECT_EQ(stored(id), "") << "nothing is stored while the session runs";
  ASSERT_TRUE(wait_until([&] { return stored(id).starts_with("complete|"); }, 20s))
      << gateway.bastion.log();
}

}  // namespace
}  // namespace portcullis::e2e
