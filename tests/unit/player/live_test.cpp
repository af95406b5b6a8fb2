// player/live.h: a running session's screen built chunk by chunk, and the watcher's keys.
#include "player/live.h"

#include <gtest/gtest.h>

#include "recorder/reader.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;
using Kind = WatchKeys::Action::Kind;

// A recording's head (up to its first chunk) and its chunk records, as the database holds them.
struct Stored {
  std::string head;
  std::vector<std::string> chunks;
};

Stored stored_recording() {
  test::TempDir dir;
  std::vector<Event> events;
  for (int i = 0; i < 5; ++i) {
    events.push_back({EventKind::output, static_cast<std::uint64_t>(i) * 1'500'000,
                      "line-" + std::to_string(i) + "\r\n"});
  }
  const std::string file = test::build_recording(dir.path(), test::sample_header(), events);
  const recorder::ParsedRecording parsed = recorder::parse(file);
  Stored stored;
  stored.head = file.substr(0, parsed.chunks.at(0).offset);
  for (const recorder::Chunk& chunk : parsed.chunks) stored.chunks.push_back(chunk.record);
  return stored;
}

TEST(LiveScreen, FollowsChunksAsTheyArriveAndRefusesAGap) {
  const Stored stored = stored_recording();
  ASSERT_GE(stored.chunks.size(), 4u);
  LiveScreen screen(stored.head);
  EXPECT_EQ(screen.header().user, "alice");
  ASSERT_TRUE(screen.add(stored.chunks[0] + stored.chunks[1]));
  EXPECT_EQ(screen.next_seq(), 2u);
  EXPECT_NE(screen.paint().find("line-1"), std::string::npos);
  EXPECT_EQ(screen.paint().find("line-2"), std::string::npos);
  // Chunk 3 before chunk 2: nothing more is applied, and the problem is named.
  EXPECT_FALSE(screen.add(stored.chunks[3]));
  EXPECT_NE(screen.problem().find("chunk 3 does not continue the recording after chunk 1"),
            std::string::npos)
      << screen.problem();
  EXPECT_FALSE(screen.add(stored.chunks[2]));
}

TEST(LiveScreen, ABrokenRecordIsNamedNotApplied) {
  const Stored stored = stored_recording();
  LiveScreen screen(stored.head);
  std::string altered = stored.chunks[0];
  altered[altered.size() - 3] ^= 0x40;
  EXPECT_FALSE(screen.add(altered));
  EXPECT_FALSE(screen.problem().empty());
  EXPECT_THROW(LiveScreen("not a recording"), recorder::RecordingError);
}

TEST(WatchKeys, WatchingLeavesWithQAndEndsTheSessionOnlyWithAReason) {
  WatchKeys keys(false);
  EXPECT_TRUE(keys.feed("ls\r").empty());  // a watcher types into nothing
  std::vector<WatchKeys::Action> actions = keys.feed("\x1dk");
  EXPECT_TRUE(actions.empty());
  ASSERT_TRUE(keys.prompt());
  EXPECT_TRUE(keys.feed("\r").empty());
  EXPECT_NE(keys.prompt()->find("a reason is required"), std::string::npos);
  actions = keys.feed("too riskyy\x7f\r");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::kill);
  EXPECT_EQ(actions[0].text, "too risky");
  EXPECT_FALSE(keys.prompt());
  // Escape cancels the question.
  keys.feed("\x1dkabc\x1b");
  EXPECT_FALSE(keys.prompt());
  actions = keys.feed("q");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::quit);
}

TEST(WatchKeys, AJoinerTypesEverythingButCtrlBracketCommands) {
  WatchKeys keys(true);
  std::vector<WatchKeys::Action> actions = keys.feed("quit\r");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, Kind::type);
  EXPECT_EQ(actions[0].text, "quit\r");
  actions = keys.feed(
      "a\x1d\x1d"
      "b");
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].text,
            "a\x1d"
            "b");
  actions = keys.feed("x\x1dq");
  ASSERT_EQ(actions.size(), 2u);
  EXPECT_EQ(actions[0].text, "x");
  EXPECT_EQ(actions[1].kind, Kind::quit);
}

TEST(LiveStatus, NamesTheSessionAndKeepsRecordedTextInert) {
  LiveStatus status;
  status.session_id = 42;
  status.user = "alice";
  status.target = "db01";
  status.login = "postgres";
  status.grant_id = 7;
  status.reason = "fix \x1b]52;c;ZXZpbA==\x07 now";
  status.time_left = std::chrono::seconds(754);
  status.state = "LIVE";
  const std::string line = live_status_line(status);
  EXPECT_NE(line.find("LIVE  session 42  alice@db01 (postgres)  grant 7  12m34s left"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_EQ(fit_line("héllo", 2), "hé");
}

}  // namespace
}  // namespace portcullis::player
