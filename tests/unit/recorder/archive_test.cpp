// Format 4: the hash chain over the chunks' content, and the archive form (segments) that the
// node compacts recordings into. The archive must verify with the node's original signature,
// convert back into the live form, play like it, and name where it was altered.
#include "recorder/archive.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <zstd.h>

#include <fstream>
#include <iterator>

#include "player/player.h"
#include "recorder/keys.h"
#include "recorder/reader.h"
#include "recorder/writer.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::recorder {
namespace {

namespace fs = std::filesystem;

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// An interactive session: a prompt, typed commands and their output, one chunk a second.
std::vector<Event> session_events(int seconds) {
  std::vector<Event> events;
  for (int i = 0; i < seconds; ++i) {
    const std::uint64_t base = static_cast<std::uint64_t>(i) * 1'000'000;
    events.push_back({EventKind::input, base + 10, "ls -l /var/log/app" + std::to_string(i % 7)});
    std::string out;
    for (int line = 0; line < 5; ++line) {
      out += "-rw-r----- 1 app app " + std::to_string(1000 + i * 37 + line) +
             " Dec  2 10:" + std::to_string(10 + line) + " app-" + std::to_string(i) + "." +
             std::to_string(line) + ".log\r\n";
    }
    events.push_back({EventKind::output, base + 3000, out + "$ "});
    if (i % 9 == 4) events.push_back({EventKind::resize, base + 5000, "", 120, 40});
    if (i % 11 == 5) {
      Event joined{EventKind::input, base + 6000, "uptime\r"};
      joined.author = "erin";
      events.push_back(joined);
    }
    if (i % 13 == 6) events.push_back({EventKind::marker, base + 7000, "grant_warning 5m"});
  }
  return events;
}

struct Sample {
  test::TempDir dir;
  std::string live;
  PublicKey key = test::recording_key().public_key();
  explicit Sample(int seconds = 40)
      : live(test::build_recording(dir.path(), test::sample_header(), session_events(seconds))) {}
};

Verification check(const std::string& bytes, const PublicKey& key) {
  return verify(parse(bytes), key);
}

std::vector<Event> events_of(const std::string& bytes) {
  std::vector<Event> events;
  RecordStream stream = RecordStream::over(bytes);
  ChunkDecoder decoder(stream.version());
  for (Chunk chunk; stream.next_chunk(chunk);) {
    for (Event& e : decoder.next(chunk)) events.push_back(std::move(e));
  }
  EXPECT_EQ(stream.damage(), "");
  return events;
}

std::string sodium_sha256(std::string_view bytes) {
  unsigned char hash[32];
  EXPECT_EQ(sodium_init() < 0, false);
  crypto_hash_sha256(hash, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return std::string(reinterpret_cast<const char*>(hash), 32);
}

std::string hash_text(const Hash& hash) {
  return std::string(reinterpret_cast<const char*>(hash.data()), hash.size());
}

// Hk is SHA-256 of the chunk's fixed fields, previous hash and decompressed events, computed
// here with another implementation than the node's (libsodium against OpenSSL).
TEST(RecordingFormat4, ChunkHashCoversTheContentNotTheFrame) {
  test::TempDir dir;
  const std::string bytes =
      test::build_recording(dir.path(), test::sample_header(),
                            {{EventKind::input, 1, "ls\r"}, {EventKind::output, 500, "a\r\n"}});
  const ParsedRecording r = parse(bytes);
  ASSERT_EQ(r.version, 4u);
  ASSERT_EQ(r.header.format, 4u);
  ASSERT_EQ(r.chunks.size(), 1u);
  const Chunk& c = r.chunks[0];
  EXPECT_FALSE(c.hashed);  // a chunk record: hashed only once decompressed
  const std::string events(
      "\x03\x00\x03ls\r\x01\xF3\x03\x03"
      "a\r\n",
      13);
  ASSERT_EQ(c.raw_size, events.size());
  std::string decompressed(events.size(), '\0');
  ASSERT_EQ(
      ZSTD_decompress(decompressed.data(), decompressed.size(), c.frame().data(), c.frame().size()),
      events.size());
  EXPECT_EQ(decompressed, events);
  const std::string fixed = c.record.substr(5, 64);
  EXPECT_EQ(fixed.substr(32), hash_text(r.header_hash));
  const std::string expected = sodium_sha256(fixed + events);
  ASSERT_TRUE(r.trailer);
  EXPECT_EQ(hash_text(r.trailer->chain_head), expected);
  EXPECT_EQ(r.trailer->compressed_bytes, 0u);  // not evidence from version 4
  EXPECT_EQ(r.trailer->raw_bytes, events.size());
  ChunkDecoder decoder(4);
  decoder.next(c);
  EXPECT_EQ(hash_text(decoder.hash()), expected);
  const Verification v = verify(r, test::recording_key().public_key());
  EXPECT_TRUE(v.intact && v.complete && v.signature_checked) << v.problem;
  EXPECT_EQ(hash_text(v.chain_head), expected);
  // The signature is over the version 4 domain.
  const std::string body = r.trailer->record.substr(5, r.trailer->record.size() - 5 - 64);
  const std::string message = std::string("portcullis-recording-v4\0", 24) + body;
  const PublicKey key = test::recording_key().public_key();
  EXPECT_EQ(crypto_sign_verify_detached(r.trailer->signature.data(),
                                        reinterpret_cast<const unsigned char*>(message.data()),
                                        message.size(), key.data()),
            0);
}

TEST(RecordingArchive, RoundTripKeepsTheChainEventsAndSignature) {
  const Sample s(60);
  const ArchivedRecording archive = to_archive_form(RecordStream::over(s.live));
  EXPECT_EQ(archive.chunks, 60u);
  ASSERT_EQ(archive.segments.size(), 1u);  // 60 small chunks: one segment
  EXPECT_EQ(archive.segments[0].first_seq, 0u);
  EXPECT_EQ(archive.segments[0].chunk_count, 60u);
  EXPECT_LT(archive.file.size(), s.live.size());

  // The node's signature, untouched, verifies the archive: no re-signing.
  const Verification live = check(s.live, s.key);
  const Verification packed = check(archive.file, s.key);
  EXPECT_TRUE(packed.intact && packed.complete && packed.signature_checked) << packed.problem;
  EXPECT_EQ(packed.chunks_checked, 60u);
  EXPECT_EQ(packed.chain_head, live.chain_head);
  EXPECT_EQ(events_of(archive.file), events_of(s.live));
  EXPECT_EQ(parse(archive.file).trailer->record, parse(s.live).trailer->record);

  // And back: the live form re-encoded is the node's spool file, byte for byte.
  const std::string relive = to_live_form(RecordStream::over(archive.file));
  EXPECT_EQ(relive, s.live);
  const Verification again = check(relive, s.key);
  EXPECT_TRUE(again.intact && again.complete && again.signature_checked) << again.problem;
  // Archiving an archive changes nothing.
  EXPECT_EQ(to_archive_form(RecordStream::over(archive.file)).file, archive.file);
}

TEST(RecordingArchive, SegmentsAreBoundedAndThePlayerSeeksInThem) {
  const Sample s(50);
  ArchiveOptions small;
  small.segment_bytes = 2000;  // a few chunks a segment
  const ArchivedRecording archive = to_archive_form(RecordStream::over(s.live), small);
  ASSERT_GT(archive.segments.size(), 5u);
  std::uint64_t next = 0;
  for (const ArchivedSegment& segment : archive.segments) {
    EXPECT_EQ(segment.first_seq, next);
    next += segment.chunk_count;
  }
  EXPECT_EQ(next, 50u);
  const Verification v = check(archive.file, s.key);
  EXPECT_TRUE(v.intact && v.complete && v.signature_checked) << v.problem;

  const player::Recording live = player::open_recording(s.live, {s.key});
  const player::Recording packed = player::open_recording(archive.file, {s.key});
  EXPECT_TRUE(packed.integrity.verified) << packed.integrity.problem;
  EXPECT_EQ(packed.event_count, live.event_count);
  EXPECT_EQ(packed.duration_us, live.duration_us);
  // Keyframes every 3 s land inside segments; seeking from them must land on the same screens.
  player::KeyframeOptions often;
  often.every_us = 3'000'000;
  const player::Seeker live_seeker(live, often);
  const player::Seeker packed_seeker(packed, often);
  EXPECT_GT(packed_seeker.keyframes(), 10u);
  for (std::uint64_t at : {0ull, 1'500'000ull, 7'000'123ull, 22'000'000ull, 49'999'999ull}) {
    EXPECT_EQ(packed_seeker.screen_at(at).text(), live_seeker.screen_at(at).text()) << at;
    EXPECT_EQ(player::screen_at(packed, at).text(), live_seeker.screen_at(at).text()) << at;
  }
  EXPECT_EQ(player::export_commands(packed), player::export_commands(live));
  EXPECT_NE(player::export_commands(packed).find("[erin]"), std::string::npos);
  EXPECT_EQ(player::export_text(packed), player::export_text(live));
}

// Where each region of an archive lies, for the tests that alter one.
struct Regions {
  std::size_t header = 0, segment = 0, table = 0, frame = 0, trailer = 0;
};

Regions regions_of(const std::string& archive) {
  Regions r;
  r.header = 12;
  const auto length = [&](std::size_t at) {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      v |= static_cast<std::uint32_t>(static_cast<unsigned char>(archive[at + 1 + i])) << (8 * i);
    }
    return v;
  };
  r.segment = r.header + 5 + length(r.header);
  r.table = r.segment + 5 + 8 + 32 + 32 + 1;  // a count under 128: one varint byte
  std::size_t at = r.table;
  // Four varints an entry; chunk count from the count byte.
  const auto count = static_cast<unsigned char>(archive[r.table - 1]);
  for (int entry = 0; entry < 4 * count; ++entry) {
    while (static_cast<unsigned char>(archive[at]) & 0x80) ++at;
    ++at;
  }
  r.frame = at;
  r.trailer = archive.size() - parse(archive).trailer->record.size();
  return r;
}

std::string flipped(std::string bytes, std::size_t at) {
  bytes[at] = static_cast<char>(bytes[at] ^ 0x10);
  return bytes;
}

std::string problem_of(const std::string& bytes, const PublicKey& key) {
  try {
    return check(bytes, key).problem;
  } catch (const RecordingError& e) {
    return std::string("unreadable: ") + e.what();
  }
}

TEST(RecordingArchive, AFlippedByteIsDetectedAndLocated) {
  const Sample s(30);
  ArchiveOptions options;
  options.segment_bytes = 3000;
  const std::string archive = to_archive_form(RecordStream::over(s.live), options).file;
  const Regions r = regions_of(archive);
  ASSERT_LT(r.frame, r.trailer);
  const ParsedRecording parsed = parse(archive);
  const std::uint64_t first_segment_chunks = parsed.chunks[0].seq == 0 ? 0 : 1;
  ASSERT_EQ(first_segment_chunks, 0u);

  // Header: a value in the JSON changes its hash, which chunk 0 of segment 0 chains to.
  const std::size_t reason = archive.find("INC-1234 disk");
  EXPECT_EQ(problem_of(flipped(archive, reason + 4), s.key),
            "header or chunk 0 altered: chunk 0 does not chain to the header");
  // Segment's previous hash: the same link.
  EXPECT_EQ(problem_of(flipped(archive, r.segment + 5 + 8 + 3), s.key),
            "header or chunk 0 altered: chunk 0 does not chain to the header");
  // Segment's seal, and its frame: the segment is named.
  const std::string seal = problem_of(flipped(archive, r.segment + 5 + 8 + 32 + 7), s.key);
  EXPECT_EQ(seal.rfind("segment covering chunks 0..", 0), 0u) << seal;
  EXPECT_NE(seal.find("do not match its seal"), std::string::npos) << seal;
  // zstd ignores bit 4 of its frame header descriptor: the content is the same, the seal is not.
  EXPECT_EQ(static_cast<unsigned char>(archive[r.frame + 4]) & 0x10, 0);
  const std::string unused_bit = problem_of(flipped(archive, r.frame + 4), s.key);
  EXPECT_NE(unused_bit.find("do not match its seal"), std::string::npos) << unused_bit;
  const std::string frame = problem_of(flipped(archive, r.frame + 20), s.key);
  EXPECT_EQ(frame.rfind("segment covering chunks 0..", 0), 0u) << frame;
  EXPECT_NE(frame.find("altered"), std::string::npos) << frame;
  // The table: the chunk whose entry no longer fits its events, or the segment.
  const std::string table = problem_of(flipped(archive, r.table + 1), s.key);
  EXPECT_TRUE(table.rfind("chunk 0 altered", 0) == 0 ||
              table.rfind("segment covering chunks 0..", 0) == 0)
      << table;
  // Trailer: a total, the chain head, the signature.
  EXPECT_EQ(problem_of(flipped(archive, r.trailer + 5 + 32 + 8 + 1), s.key),
            "trailer altered: its totals do not match the chunks");
  EXPECT_EQ(problem_of(flipped(archive, r.trailer + 5 + 3), s.key)
                .rfind("trailer altered: its chain head does not match chunk 29", 0),
            0u);
  EXPECT_EQ(problem_of(flipped(archive, archive.size() - 3), s.key)
                .rfind("trailer altered: the signature does not verify", 0),
            0u);

  // Every byte: never verified, never a crash.
  for (std::size_t at = 0; at < archive.size(); ++at) {
    const std::string damaged = flipped(archive, at);
    try {
      const Verification v = check(damaged, s.key);
      EXPECT_FALSE(v.intact && v.complete && v.signature_checked) << "byte " << at;
      EXPECT_NE(v.problem, "") << "byte " << at;
    } catch (const RecordingError&) {
      EXPECT_LT(at, r.segment) << "only the file prefix and header make it unreadable";
    }
    const player::Recording played = [&] {
      try {
        return player::open_recording(damaged, {s.key});
      } catch (const RecordingError&) {
        return player::Recording{};
      }
    }();
    EXPECT_FALSE(played.integrity.verified) << "byte " << at;
  }
}

TEST(RecordingArchive, SegmentsOutOfPlaceAreNamed) {
  const Sample s(30);
  ArchiveOptions options;
  options.segment_bytes = 3000;
  const ArchivedRecording a = to_archive_form(RecordStream::over(s.live), options);
  ASSERT_GE(a.segments.size(), 3u);
  const std::string prefix = a.file.substr(0, a.file.find(a.segments[0].record));
  const std::string trailer = parse(a.file).trailer->record;
  std::string missing = prefix + a.segments[0].record;
  for (std::size_t i = 2; i < a.segments.size(); ++i) missing += a.segments[i].record;
  EXPECT_EQ(problem_of(missing + trailer, s.key)
                .rfind("chunk " + std::to_string(a.segments[1].first_seq) + " missing", 0),
            0u)
      << problem_of(missing + trailer, s.key);
  // A chunk record among segments is not an archive.
  const std::string live_chunk = parse(s.live).chunks[0].record;
  const std::string mixed = prefix + a.segments[0].record + live_chunk + trailer;
  EXPECT_NE(problem_of(mixed, s.key).find("a chunk record among segment records"),
            std::string::npos);
  // The last segment gone: the trailer counts more chunks.
  std::string short_one = prefix;
  for (std::size_t i = 0; i + 1 < a.segments.size(); ++i) short_one += a.segments[i].record;
  EXPECT_EQ(problem_of(short_one + trailer, s.key)
                .rfind("chunk " + std::to_string(a.segments.back().first_seq) + " missing", 0),
            0u);
}

TEST(RecordingArchive, BothFormsExportedVerifyWithTheSameKey) {
  const Sample s(20);
  const std::string archive = to_archive_form(RecordStream::over(s.live)).file;
  const std::string live_again = to_live_form(RecordStream::over(archive));
  for (const std::string* form : {&s.live, &archive, &live_again}) {
    const Verification v = check(*form, s.key);
    EXPECT_TRUE(v.intact && v.complete && v.signature_checked) << v.problem;
    const player::Recording r = player::open_recording(*form, {s.key});
    EXPECT_TRUE(r.integrity.verified) << r.integrity.problem;
  }
  const SigningKey other = test::new_signing_key();
  EXPECT_EQ(check(archive, other.public_key()).problem.rfind("signed by another key", 0), 0u);
}

// An incomplete recording (the node stopped) is archived up to its last chunk, unsigned.
TEST(RecordingArchive, AnIncompleteRecordingKeepsItsChunks) {
  const Sample s(10);
  const ParsedRecording r = parse(s.live);
  const std::string incomplete =
      s.live.substr(0, r.trailer ? s.live.size() - r.trailer->record.size() : 0);
  const ArchivedRecording a = to_archive_form(RecordStream::over(incomplete));
  const Verification v = verify(parse(a.file), s.key);
  EXPECT_TRUE(v.intact);
  EXPECT_FALSE(v.complete);
  EXPECT_EQ(v.problem, "incomplete: no trailer after chunk 9");
  EXPECT_EQ(v.chain_head, verify(r, s.key).chain_head);
}

TEST(RecordingArchive, RefusesWhatDoesNotChain) {
  const Sample s(5);
  const ParsedRecording r = parse(s.live);
  // Chunk 2 dropped.
  const std::string broken =
      s.live.substr(0, r.chunks[2].offset) + s.live.substr(r.chunks[3].offset);
  EXPECT_THROW(to_archive_form(RecordStream::over(broken)), RecordingError);
  const fs::path data = fs::path(PORTCULLIS_SOURCE_DIR) / "tests/data/recording";
  EXPECT_THROW(to_archive_form(RecordStream::over(read_all(data / "v3-sample.pcr"))),
               RecordingError);
}

// The file's version and the header's "format" are tied from version 4 on.
TEST(RecordingFormat4, AVersionChangedAloneIsRefused) {
  const Sample s(3);
  std::string three = s.live;
  three[8] = 3;
  EXPECT_THROW(parse(three), RecordingError);
}

// Recordings written before version 4 still read, verify and play.
TEST(RecordingFormat4, Version3FilesStillVerifyAndPlay) {
  const fs::path data = fs::path(PORTCULLIS_SOURCE_DIR) / "tests/data/recording";
  const std::string bytes = read_all(data / "v3-sample.pcr");
  const std::string key_bytes = read_all(data / "v3-sample.pub");
  PublicKey key{};
  ASSERT_EQ(key_bytes.size(), key.size());
  std::copy(key_bytes.begin(), key_bytes.end(), key.begin());
  const ParsedRecording parsed = parse(bytes);
  ASSERT_EQ(parsed.version, 3u);
  const Verification v = verify(parsed, key);
  EXPECT_TRUE(v.intact && v.complete && v.signature_checked) << v.problem;
  EXPECT_EQ(v.chunks_checked, 4u);
  const player::Recording r = player::open_recording(bytes, {key});
  EXPECT_TRUE(r.integrity.verified) << r.integrity.problem;
  EXPECT_NE(player::export_text(r).find("file3  notes.txt"), std::string::npos);
  bool joined = false;
  player::visit_events(r, [&](const Event& e) { joined = joined || e.author == "erin"; });
  EXPECT_TRUE(joined);
  // A flipped byte in its chunk is still found, by the record hash of version 3.
  std::string damaged = bytes;
  damaged[parsed.chunks[1].offset + 80] ^= 1;
  EXPECT_NE(verify(parse(damaged), key).problem.find("chunk 1 altered"), std::string::npos);
}

}  // namespace
}  // namespace portcullis::recorder
