// The player against recordings made by the person being audited: sizes that would crash
// libvterm, recordings altered or cut short, text that would act on the auditor's terminal,
// and recordings too big to hold in memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/common.h"
#include "player/player.h"
#include "player/terminal.h"
#include "recorder/reader.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::player {
namespace {

using recorder::Event;
using recorder::EventKind;

std::vector<recorder::PublicKey> node_keys() { return {test::recording_key().public_key()}; }

std::string recording_bytes(const std::vector<Event>& events, std::uint16_t cols = 80,
                            std::uint16_t rows = 24) {
  test::TempDir dir;
  recorder::Header header = test::sample_header();
  header.cols = cols;
  header.rows = rows;
  return test::build_recording(dir.path(), header, events);
}

// Every control a terminal acts on: C0 but tab and newline, DEL, and C1 as UTF-8 or raw.
bool has_raw_controls(std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if ((byte < 0x20 && byte != '\t' && byte != '\n') || byte == 0x7F) return true;
    if (byte == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      return true;
    }
  }
  return !is_valid_utf8(text);
}

// A grant holder asked for a 65535x65535 pty, then resized to it and to 0x0: every pass of the
// player clamps instead of handing libvterm a size it crashes on.
TEST(PlayerHostile, HugeTerminalSizesAreClamped) {
  const Recording r = open_recording(recording_bytes({{EventKind::output, 1, "$ "},
                                                      {EventKind::input, 2, "ls\r"},
                                                      {EventKind::output, 3, "ls\r\nfile\r\n$ "},
                                                      {EventKind::resize, 4, "", 65535, 65535},
                                                      {EventKind::output, 5, "after\r\n"},
                                                      {EventKind::resize, 6, "", 0, 0},
                                                      {EventKind::resize, 7, "", 65535, 1}},
                                                     65535, 65535),
                                     node_keys());
  EXPECT_TRUE(r.integrity.verified) << r.integrity.problem;
  const Screen first = screen_at(r, 3);
  EXPECT_EQ(first.cols, kMaxTerminalCols);
  EXPECT_EQ(first.rows, kMaxTerminalRows);
  EXPECT_EQ(first.lines[1], "file");
  EXPECT_EQ(screen_at(r, 7).cols, kMaxTerminalCols);
  EXPECT_EQ(screen_at(r, 7).rows, 1);
  const Seeker seeker(r);
  EXPECT_EQ(seeker.screen_at(5).lines[2], "$ after");
  EXPECT_NE(export_text(r).find("$ after"), std::string::npos);
  EXPECT_EQ(extract_commands(r).size(), 1u);
  EXPECT_EQ(search(r, [](std::string_view line) { return line == "file"; }).size(), 1u);
  const std::string cast = export_asciicast(r);
  EXPECT_EQ(nlohmann::json::parse(cast.substr(0, cast.find('\n')))["width"], kMaxTerminalCols);
  EXPECT_NE(cast.find("\"r\",\"1000x1000\""), std::string::npos) << cast;
}

TEST(PlayerHostile, AnIntactRecordingSignedByAKnownKeyIsVerified) {
  const std::string bytes = recording_bytes({{EventKind::output, 1, "hello\r\n"}});
  EXPECT_TRUE(open_recording(bytes, node_keys()).integrity.verified);
  const Recording unknown = open_recording(bytes, {test::new_signing_key().public_key()});
  EXPECT_FALSE(unknown.integrity.verified);
  EXPECT_EQ(unknown.integrity.problem.rfind("not signed by a known node key", 0), 0u)
      << unknown.integrity.problem;
  EXPECT_FALSE(open_recording(bytes).integrity.verified);
}

// Cut anywhere after the header, a recording still plays what it holds, and says it is cut.
TEST(PlayerHostile, ATruncatedRecordingIsReportedNotVerified) {
  std::vector<Event> events;
  for (std::uint64_t i = 0; i < 5; ++i) {
    events.push_back({EventKind::output, i * 2'000'000, "line " + std::to_string(i) + "\r\n"});
  }
  const std::string whole = recording_bytes(events);
  const recorder::ParsedRecording parsed = recorder::parse(whole);
  ASSERT_EQ(parsed.chunks.size(), 5u);
  // Without the trailer; and in the middle of chunk 3.
  const std::string no_trailer =
      whole.substr(0, parsed.chunks[4].offset + parsed.chunks[4].record.size());
  const std::string torn = whole.substr(0, parsed.chunks[3].offset + 10);
  const Recording a = open_recording(no_trailer, node_keys());
  EXPECT_FALSE(a.integrity.verified);
  EXPECT_EQ(a.integrity.problem, "incomplete: no trailer after chunk 4");
  const Recording b = open_recording(torn, node_keys());
  EXPECT_FALSE(b.integrity.verified);
  EXPECT_EQ(b.integrity.problem.rfind("truncated after chunk 2", 0), 0u) << b.integrity.problem;
  EXPECT_EQ(screen_at(b, 10'000'000).lines[2], "line 2");
}

// Someone with write access to the file swaps a chunk for one saying something else and
// re-chains everything after it: hashes and totals agree again, the signature cannot.
TEST(PlayerHostile, ARechainedRecordingIsNotVerified) {
  const std::string original = recording_bytes({{EventKind::output, 1, "rm -rf /srv/data\r\n"}});
  const std::string other = recording_bytes({{EventKind::output, 1, "ls -l /srv/data \r\n"}});
  const recorder::ParsedRecording a = recorder::parse(original);
  const recorder::ParsedRecording b = recorder::parse(other);
  ASSERT_EQ(a.header_hash, b.header_hash);  // the same session header
  ASSERT_EQ(a.chunks.size(), 1u);
  ASSERT_TRUE(a.trailer);
  std::string forged = original.substr(0, a.chunks[0].offset) + b.chunks[0].record;
  std::string trailer = a.trailer->record;
  // Body: the chain head (format 4: over the content), then totals that are the same.
  const recorder::Verification chained = recorder::verify(b, std::nullopt);
  std::memcpy(trailer.data() + 5, chained.chain_head.data(), 32);
  forged += trailer;

  const Recording r = open_recording(forged, node_keys());
  EXPECT_FALSE(r.integrity.verified);
  EXPECT_NE(r.integrity.problem.find("signature does not verify"), std::string::npos)
      << r.integrity.problem;
  // What it holds still plays, under the warning.
  EXPECT_EQ(screen_at(r, 1).lines[0], "ls -l /srv/data");
}

// Recorded output and command lines cannot act on the auditor's terminal: C0 and C1 controls
// and bytes that are not UTF-8 come out visibly in every human-readable export.
TEST(PlayerHostile, RecordedTextPrintedForHumansIsInert) {
  const std::string osc52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07";
  const Recording r =
      open_recording(recording_bytes({{EventKind::exec, 1, "echo hi " + osc52 + "\n\x9b" + "2J"},
                                      {EventKind::output, 2,
                                       "a\xc2\x9b"
                                       "31mred \xff\xfe bytes\r\n"},
                                      {EventKind::output, 3, "$ "},
                                      {EventKind::input, 4, "x\r"},
                                      {EventKind::output, 5, "x\xc2\x9d\r\n"}}),
                     node_keys());
  const std::string text = export_text(r);
  EXPECT_FALSE(has_raw_controls(text)) << text;
  // libvterm takes U+009B as CSI, but keeps U+009D (OSC) in a cell: shown escaped.
  EXPECT_NE(text.find("x\\u009d"), std::string::npos) << text;
  const std::string commands = export_commands(r);
  EXPECT_FALSE(has_raw_controls(commands.substr(0, commands.size() - 1))) << commands;
  EXPECT_NE(commands.find("\\x1b]52"), std::string::npos) << commands;
  EXPECT_EQ(std::count(commands.begin(), commands.end(), '\n'), 2) << commands;
  // The replay paints a C1 cell as U+FFFD, one visible column.
  const Seeker seeker(r);
  const std::string painted = seeker.seek(5).terminal->paint();
  EXPECT_EQ(painted.find("\xc2\x9d"), std::string::npos);
  EXPECT_NE(painted.find("x\xef\xbf\xbd"), std::string::npos);  // U+FFFD
  // asciicast keeps the exact text, escaped: ASCII only, and it parses.
  const std::string cast = export_asciicast(r);
  for (const char c : cast) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7F)) << cast;
  std::istringstream lines(cast);
  for (std::string line; std::getline(lines, line);) EXPECT_NO_THROW(nlohmann::json::parse(line));
  EXPECT_NE(cast.find("\\u001b]52"), std::string::npos) << cast;
}

// However long the recording, the seeker's keyframes stay within their budget.
TEST(PlayerHostile, KeyframesStayWithinTheirBudget) {
  std::vector<Event> events;
  for (std::uint64_t i = 0; i < 400; ++i) {
    events.push_back(
        {EventKind::output, i * 1'000'000, "output line " + std::to_string(i) + "\r\n"});
  }
  const Recording r = open_recording(recording_bytes(events), node_keys());
  KeyframeOptions options{1, 1, std::size_t{2} << 20};  // a keyframe per event, 2 MiB at most
  const Seeker seeker(r, options);
  EXPECT_LE(seeker.keyframe_bytes(), options.memory_budget);
  EXPECT_GT(seeker.keyframes(), 4u);
  const Seeker unlimited(r, {UINT64_MAX, SIZE_MAX});
  for (std::uint64_t at = 0; at < 400'000'000; at += 7'000'000) {
    EXPECT_EQ(seeker.screen_at(at).lines, unlimited.screen_at(at).lines) << at;
  }
}

}  // namespace
}  // namespace portcullis::player
