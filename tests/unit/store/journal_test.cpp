// The journal file (store/journal.h): entries come back in order and exactly, a write cut short
// by a crash is ignored, a damaged line costs that line only, a second daemon cannot take the
// file over, and the session ends it holds are what `session list` shows as ending.
#include "store/journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "access/access.h"
#include "tests/support/temp_dir.h"

namespace portcullis {
namespace {

using std::chrono::microseconds;
using TimePoint = std::chrono::system_clock::time_point;

store::JournalEntry entry(std::string id, std::string kind, nlohmann::json fields,
                          TimePoint at = TimePoint(microseconds(1764560000123456))) {
  store::JournalEntry e;
  e.id = std::move(id);
  e.kind = std::move(kind);
  e.at = at;
  if (!fields.is_null()) e.fields = std::move(fields);  // `{}` reads as null: keep the object
  return e;
}

void append_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  out << text;
}

TEST(JournalFile, EntriesComeBackInOrderAndExact) {
  test::TempDir dir;
  const auto path = dir.path() / "database.journal";
  {
    store::JournalFile file(path);
    file.append({entry("b00t:1", "audit", {{"actor", "alice"}, {"details", "{\"x\":1}"}}),
                 entry("b00t:2", "session.end", {{"session", 7}, {"reason", "client_exit"}})});
    file.append({entry("b00t:3", "audit", {{"actor", "\x1b[2Jevil \xff"}})});
    EXPECT_EQ(file.size(), std::filesystem::file_size(path));
  }
  const store::JournalContents read = store::read_journal(path);
  EXPECT_TRUE(read.problems.empty());
  ASSERT_EQ(read.entries.size(), 3u);
  EXPECT_EQ(read.entries[0].id, "b00t:1");
  EXPECT_EQ(read.entries[0].at, TimePoint(microseconds(1764560000123456)));
  EXPECT_EQ(read.entries[0].fields["details"], "{\"x\":1}");
  EXPECT_EQ(read.entries[1].kind, "session.end");
  EXPECT_EQ(read.entries[1].fields["session"], 7);
  // Invalid UTF-8 is replaced rather than making the entry unwritable; escapes stay as text.
  EXPECT_EQ(read.entries[2].fields["actor"].get<std::string>().substr(0, 9), "\x1b[2Jevil ");
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(JournalFile, ATornLastLineIsIgnoredAndDamagedLinesAreNamed) {
  test::TempDir dir;
  const auto path = dir.path() / "database.journal";
  {
    store::JournalFile file(path);
    file.append({entry("b00t:1", "audit", {})});
  }
  append_text(path, "not json\n");
  append_text(path, "{\"id\":\"has space\",\"kind\":\"audit\",\"at_us\":1,\"fields\":{}}\n");
  append_text(path, "{\"id\":\"x:1\",\"kind\":\"audit\",\"at_us\":\"soon\",\"fields\":{}}\n");
  append_text(path, "{\"id\":\"x:2\",\"kind\":\"audit\",\"at_us\":1,\"fields\":[]}\n");
  append_text(path, std::string(store::kMaxJournalLine + 1, 'a') + "\n");
  {
    store::JournalFile file(path);
    file.append({entry("b00t:2", "audit", {})});
  }
  append_text(path, "{\"id\":\"b00t:3\",\"kind\":\"au");  // the crash came mid-write
  const store::JournalContents read = store::read_journal(path);
  ASSERT_EQ(read.entries.size(), 2u);
  EXPECT_EQ(read.entries[0].id, "b00t:1");
  EXPECT_EQ(read.entries[1].id, "b00t:2");
  ASSERT_EQ(read.problems.size(), 5u);
  EXPECT_TRUE(read.problems[0].starts_with("line 2: ")) << read.problems[0];
  EXPECT_NE(read.problems[1].find("\"id\""), std::string::npos) << read.problems[1];
  EXPECT_NE(read.problems[2].find("\"at_us\""), std::string::npos) << read.problems[2];
  EXPECT_NE(read.problems[3].find("\"fields\""), std::string::npos) << read.problems[3];
  EXPECT_NE(read.problems[4].find("longer than"), std::string::npos) << read.problems[4];
}

TEST(JournalFile, ClearEmptiesAndAMissingFileIsEmpty) {
  test::TempDir dir;
  const auto path = dir.path() / "database.journal";
  EXPECT_TRUE(store::read_journal(path).entries.empty());
  store::JournalFile file(path);
  file.append({entry("b00t:1", "audit", {})});
  file.clear();
  EXPECT_EQ(file.size(), 0u);
  EXPECT_EQ(std::filesystem::file_size(path), 0u);
  file.append({entry("b00t:2", "audit", {})});
  ASSERT_EQ(file.read().entries.size(), 1u);
  EXPECT_EQ(file.read().entries[0].id, "b00t:2");
}

TEST(JournalFile, ASecondHolderIsRefusedWithAClearMessage) {
  test::TempDir dir;
  const auto path = dir.path() / "database.journal";
  store::JournalFile first(path);
  try {
    store::JournalFile second(path);
    FAIL() << "a second holder of the journal was allowed";
  } catch (const std::system_error& e) {
    EXPECT_NE(std::string(e.what()).find("in use by another process"), std::string::npos)
        << e.what();
  }
}

TEST(JournalEntries, QueuedSessionEndsKeepTheFirstEndOfEachSession) {
  const TimePoint ended(microseconds(1764560000000000));
  store::JournalContents journal;
  journal.entries.push_back(
      access::journal_session_end(4, access::EndReason::grant_expired, std::nullopt, ended));
  journal.entries.push_back(
      access::journal_session_end(5, access::EndReason::client_exit, 3, ended));
  journal.entries.push_back(access::journal_session_end(4, access::EndReason::killed, 1, ended));
  journal.entries.push_back(access::journal_audit("alice", "session.denied", "login:x", "{}"));
  journal.entries.push_back(entry("x:1", "session.end", {{"session", 6}, {"reason", "bored"}}));
  const auto ends = access::queued_session_ends(journal);
  ASSERT_EQ(ends.size(), 2u);
  EXPECT_EQ(ends.at(4).reason, access::EndReason::grant_expired);
  EXPECT_FALSE(ends.at(4).exit_status);
  EXPECT_EQ(ends.at(4).at, ended);
  EXPECT_EQ(ends.at(5).exit_status, 3);
}

}  // namespace
}  // namespace portcullis
