// Live shipping (issue 16, item 1): the chunks of a running session reach PostgreSQL while it
// runs, about a second behind the spool; a SIGKILL of the node holding it then loses at most
// that last second from the database, and the next start completes the recording as
// incomplete from the spool, byte for byte. The store never stores a gap, and the
// end-of-session ship finds the chunks stored live the same as its spool file.
#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "recorder/postgres_store.h"
#include "recorder/reader.h"
#include "recorder/shipper.h"
#include "recorder/writer.h"
#include "tests/e2e/session_row.h"
#include "tests/support/harness.h"
#include "tests/support/recording_builder.h"

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
    // Live chunk records while the session runs, archive segments once it has been compacted.
    recorder::RecordStream stream = recorder::RecordStream::own(store.load(id));
    std::string output;
    recorder::ChunkDecoder decoder(stream.version());
    for (recorder::Chunk chunk; stream.next_chunk(chunk);) {
      for (const recorder::Event& event : decoder.next(chunk)) {
        if (event.kind == recorder::EventKind::output) output += event.data;
      }
    }
    return output;
  }

  // The highest "line N" the database holds of the session, 0 before its recording is stored.
  int last_stored_line(long long id) const {
    return stored(id).empty() ? 0 : last_line(stored_output(id));
  }

  // Waits until `condition` holds, reading what the client prints meanwhile into `seen` (also
  // after the condition holds: a client that has exited has all its output in the pipe).
  template <typename Condition>
  static bool follow(PipedProcess& client, std::string& seen, Condition condition,
                     std::chrono::milliseconds timeout) {
    return wait_until(
        [&] {
          const bool done = condition();
          char buffer[4096];
          ssize_t n = 0;
          while ((n = ::read(client.output(), buffer, sizeof buffer)) > 0) {
            seen.append(buffer, static_cast<std::size_t>(n));
          }
          return done;
        },
        timeout);
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
  ASSERT_TRUE(follow(
      client, seen,
      [&] {
        first = stored(id);
        return first.starts_with("recording|") && first != "recording|0";
      },
      10s))
      << "stored: " << first << "\n"
      << gateway.bastion.log();
  ASSERT_TRUE(follow(
      client, seen,
      [&] {
        const std::string now = stored(id);
        return now.starts_with("recording|") && now != first;
      },
      5s))
      << "the chunk count stays at " << first;

  // Half-way through, the node dies. Whatever the client has printed by then, the database
  // holds all but about the last second of it.
  ASSERT_TRUE(follow(
      client, seen, [&] { return last_line(seen) >= 50; }, 15s))
      << seen;
  gateway.bastion.kill();
  follow(
      client, seen, [&] { return client.exit_status().has_value(); }, 10s);
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

// The database goes away while the session runs: its chunks wait in the spool, and once the
// database is back the shipper catches the running session up from its spool file and goes on
// shipping it live.
TEST_F(LiveShipping, ARunningSessionCatchesUpAfterADatabaseOutage) {
  PostgresCluster& cluster = PostgresCluster::shared();
  PipedProcess client(ssh_argv("for i in $(seq 1 200); do echo line $i; sleep 0.1; done"));
  const long long id = running_session();
  ASSERT_NE(id, 0) << gateway.bastion.log();
  std::string seen;
  ASSERT_TRUE(follow(
      client, seen, [&] { return last_stored_line(id) > 0; }, 10s))
      << gateway.bastion.log();

  cluster.stop();
  follow(
      client, seen, [] { return false; }, 3s);  // the outage
  cluster.start();
  const int seen_at_return = last_line(seen);
  ASSERT_GT(seen_at_return, 0);
  ASSERT_LT(seen_at_return, 150) << "the session must still run when the database returns";

  // What the client saw during the outage reaches the database while the session still runs.
  int last_stored = 0;
  EXPECT_TRUE(follow(
      client, seen,
      [&] {
        last_stored = last_stored_line(id);
        return last_stored >= seen_at_return;
      },
      10s))
      << "the client saw line " << seen_at_return
      << " when the database returned; stored: " << last_stored << "\n"
      << gateway.bastion.log();
  EXPECT_TRUE(stored(id).starts_with("recording|")) << stored(id);
  EXPECT_FALSE(client.exit_status().has_value()) << "caught up while the session runs";
  EXPECT_NE(gateway.bastion.log().find("live recording shipping: "), std::string::npos)
      << "the outage is logged";
}

TEST_F(LiveShipping, SwitchedOffTheRecordingWaitsForTheEndOfTheSession) {
  gateway.bastion.stop();
  gateway.bastion.add_recording_config("live_shipping = false");
  gateway.bastion.start();
  PipedProcess client(ssh_argv("echo started; sleep 3; echo done"));
  const long long id = running_session();
  ASSERT_NE(id, 0) << gateway.bastion.log();
  std::string seen;
  ASSERT_TRUE(follow(
      client, seen, [&] { return seen.find("started") != std::string::npos; }, 10s));
  std::this_thread::sleep_for(1500ms);  // a live pass would have stored the first chunk
  EXPECT_EQ(stored(id), "") << "nothing is stored while the session runs";
  ASSERT_TRUE(wait_until([&] { return stored(id).starts_with("complete|"); }, 20s))
      << gateway.bastion.log();
}

// Writes `count` chunks of output to a spool file in `dir`; `written` gets them as live shipping
// does.
recorder::SpoolWriter spool_with_chunks(const fs::path& dir, std::int64_t session_id, int count,
                                        const recorder::SigningKey& key,
                                        std::vector<recorder::Chunk>& written) {
  auto created = recorder::SpoolWriter::create(dir, test::sample_header(session_id), key);
  auto& writer = std::get<recorder::SpoolWriter>(created);
  for (int i = 0; i < count; ++i) {
    std::vector<recorder::ChunkBuffer> batch(1);
    batch[0].add(recorder::EventKind::output, static_cast<std::uint64_t>(i) * 1'000'000,
                 "line " + std::to_string(i) + "\r\n");
    EXPECT_FALSE(writer.append(batch, recorder::SpoolWriter::Sync::now, &written));
  }
  return std::move(writer);
}

TEST(LiveShippingStore, StoresOnlyWhatContinuesTheStoredChunks) {
  using LiveResult = recorder::RecordingStore::LiveResult;
  Bastion bastion;
  const std::int64_t id = make_session(bastion);
  const recorder::SigningKey key = recorder::SigningKey::load(bastion.dir() / "state/signing.key");
  std::vector<recorder::Chunk> written;
  recorder::SpoolWriter writer =
      spool_with_chunks(bastion.dir() / "state/spool", id, 6, key, written);
  const auto header = std::make_shared<const recorder::RecordingStore::SpoolHeader>(
      recorder::RecordingStore::SpoolHeader{writer.header(), writer.header_record()});
  const auto update = [&](std::ptrdiff_t from, std::ptrdiff_t to) {
    return std::vector<recorder::RecordingStore::LiveUpdate>{
        {id, header, std::vector<recorder::Chunk>(written.begin() + from, written.begin() + to),
         true}};
  };
  recorder::PostgresRecordingStore store(PostgresCluster::shared().url(bastion.database()));
  const auto stored = [&] {
    return PostgresCluster::shared().query(
        bastion.database(),
        "SELECT state || ' ' || chunk_count || ' ' || (SELECT count(*) FROM recording_chunks) "
        "FROM recordings");
  };

  EXPECT_EQ(store.save_live(update(0, 2)), std::vector{LiveResult::stored});
  EXPECT_EQ(stored(), "recording 2 2");
  // Chunk 1 again (a catch-up stored it already) is skipped; 2 and 3 follow.
  EXPECT_EQ(store.save_live(update(1, 4)), std::vector{LiveResult::stored});
  EXPECT_EQ(stored(), "recording 4 4");
  // Chunk 5 without chunk 4: nothing is stored, the session is behind.
  EXPECT_EQ(store.save_live(update(5, 6)), std::vector{LiveResult::behind});
  EXPECT_EQ(stored(), "recording 4 4");

  // The end-of-session ship stores the rest and finds the stored bytes equal to the spool's.
  ASSERT_FALSE(writer.finish("client_exit"));
  std::string error;
  EXPECT_EQ(recorder::ship_spool_file(store, writer.path(), false, key.public_key(), error),
            recorder::ShipResult::shipped)
      << error;
  EXPECT_EQ(stored(), "complete 6 6");
  EXPECT_EQ(store.save_live(update(5, 6)), std::vector{LiveResult::not_recording});
}

}  // namespace
}  // namespace portcullis::e2e
