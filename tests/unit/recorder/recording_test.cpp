// The recording format: writer, reader, chunk decoding, and what verify() catches.
#include <gtest/gtest.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>
#include <zstd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <thread>

#include "recorder/keys.h"
#include "recorder/reader.h"
#include "recorder/writer.h"
#include "tests/support/recording_builder.h"
#include "tests/support/temp_dir.h"

namespace portcullis::recorder {
namespace {

namespace fs = std::filesystem;

SigningKey new_key() { return test::new_signing_key(); }

Header sample_header(std::int64_t session_id = 42) { return test::sample_header(session_id); }

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

SpoolWriter make_writer(const fs::path& dir, const SigningKey& key, Header h = sample_header()) {
  auto created = SpoolWriter::create(dir, std::move(h), key);
  if (auto* error = std::get_if<std::error_code>(&created)) {
    throw std::system_error(*error, "create spool");
  }
  return std::move(std::get<SpoolWriter>(created));
}

// Chunk i holds events at 1 s * i + ..., of every kind.
std::vector<std::vector<Event>> sample_chunks(int count) {
  std::vector<std::vector<Event>> chunks;
  for (int i = 0; i < count; ++i) {
    const std::uint64_t base = static_cast<std::uint64_t>(i) * 1'000'000;
    chunks.push_back({
        {EventKind::input, base + 5, "ls -l\r"},
        {EventKind::output, base + 900,
         "total 0\r\n-rw-r--r-- 1 root root 0 file" + std::to_string(i) + "\r\n$ "},
        {EventKind::error_output, base + 901, "warning\n"},
        {EventKind::resize, base + 1000, "", static_cast<std::uint16_t>(100 + i), 40},
        {EventKind::exec, base + 2000, "uptime"},
        {EventKind::marker, base + 999'999, "grant_warning 5m"},
    });
  }
  return chunks;
}

struct Written {
  fs::path path;
  std::string bytes;
  ParsedRecording parsed;
};

Written write_recording(const fs::path& dir, const SigningKey& key,
                        const std::vector<std::vector<Event>>& chunks, bool finish = true) {
  SpoolWriter writer = make_writer(dir, key);
  for (const std::vector<Event>& events : chunks) {
    ChunkBuffer buffer;
    for (const Event& e : events) buffer.add(e);
    EXPECT_FALSE(writer.append(buffer.take()));
    EXPECT_TRUE(buffer.empty());
  }
  if (finish) {
    EXPECT_FALSE(writer.finish("client_exit"));
  }
  Written w{writer.path(), read_all(writer.path()), {}};
  w.parsed = parse(w.bytes);
  return w;
}

Verification verify_bytes(const std::string& bytes, const SigningKey& key) {
  return verify(parse(bytes), key.public_key());
}

TEST(Recording, RoundTripKeepsHeaderAndEvents) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const auto chunks = sample_chunks(5);
  const Written w = write_recording(dir.path(), key, chunks);

  EXPECT_EQ(w.path, dir.path() / "42.pcr");
  EXPECT_EQ(fs::status(w.path).permissions(), fs::perms::owner_read | fs::perms::owner_write);
  const Header& h = w.parsed.header;
  EXPECT_EQ(h.session_id, 42);
  EXPECT_EQ(h.reason, "INC-1234 disk full on db01");
  ASSERT_EQ(h.approvals.size(), 1u);
  EXPECT_EQ(h.approvals[0].approver, "bob");
  EXPECT_EQ(h.approvals[0].at, sample_header().approvals[0].at);
  EXPECT_EQ(h.started_at, sample_header().started_at);
  EXPECT_EQ(h.term, "xterm-256color");
  EXPECT_EQ(h.node_key_fingerprint, key.fingerprint());

  ASSERT_EQ(w.parsed.version, kFormatVersion);
  ASSERT_EQ(w.parsed.chunks.size(), chunks.size());
  ChunkDecoder decoder;
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_EQ(w.parsed.chunks[i].seq, i);
    EXPECT_EQ(decoder.next(w.parsed.chunks[i]), chunks[i]) << "chunk " << i;
  }
  ASSERT_TRUE(w.parsed.trailer);
  EXPECT_EQ(w.parsed.trailer->end_reason, "client_exit");
  EXPECT_EQ(w.parsed.trailer->event_count, 30u);
  EXPECT_EQ(w.parsed.trailer->duration_us, 4'999'999u);

  const Verification v = verify(w.parsed, key.public_key());
  EXPECT_TRUE(v.intact);
  EXPECT_TRUE(v.complete);
  EXPECT_TRUE(v.signature_checked);
  EXPECT_EQ(v.chunks_checked, 5u);
  EXPECT_EQ(v.problem, "");
}

// Version 2: a small chunk is compressed against the chunks before it, so it decodes after them
// and not on its own.
TEST(Recording, ASmallChunkDecodesAfterTheChunksBeforeIt) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const auto chunks = sample_chunks(6);
  const Written w = write_recording(dir.path(), key, chunks);
  ChunkDecoder in_order;
  for (int i = 0; i < 3; ++i) in_order.next(w.parsed.chunks[i]);
  EXPECT_EQ(in_order.next(w.parsed.chunks[3]), chunks[3]);
  ChunkDecoder alone;
  EXPECT_THROW(alone.next(w.parsed.chunks[3]), RecordingError);
}

// What the history is for: a build printing a line a second makes one small chunk per line, which
// compressed on its own would barely shrink.
TEST(Recording, SlowOutputCompressesAgainstTheChunksBeforeIt) {
  test::TempDir dir;
  const SigningKey key = new_key();
  SpoolWriter writer = make_writer(dir.path(), key);
  std::size_t alone = 0;
  for (std::uint64_t i = 0; i < 60; ++i) {
    ChunkBuffer buffer;
    buffer.add({EventKind::output, i * 1'000'000,
                "[" + std::to_string(i) +
                    "/60] /usr/bin/c++ -DBOOST_ALL_NO_LIB -I/src -O2 -Wall "
                    "-Wextra -Werror -std=c++20 -MD -MT obj/part" +
                    std::to_string(i) + ".o -c /src/part" + std::to_string(i) + ".cpp\r\n"});
    alone += ZSTD_compressBound(0) + ZSTD_compress(std::string(buffer.size() * 2 + 64, '\0').data(),
                                                   buffer.size() * 2 + 64, buffer.bytes().data(),
                                                   buffer.size(), 3);
    ASSERT_FALSE(writer.append(buffer.take()));
  }
  ASSERT_FALSE(writer.finish("client_exit"));
  EXPECT_LT(writer.compressed_bytes() * 3, alone)
      << "chained " << writer.compressed_bytes() << " bytes, alone " << alone;
  EXPECT_LT(writer.compressed_bytes() * 3, writer.raw_bytes());
  EXPECT_TRUE(verify(parse(read_all(writer.path())), key.public_key()).complete);
}

// Version 1 recordings (every chunk standalone), written by the version 1 writer, are still read
// and verified with their node's key (tests/data/recording: the .pub holds the 32 raw key bytes).
TEST(Recording, VersionOneRecordingsAreStillRead) {
  const fs::path data = fs::path(PORTCULLIS_SOURCE_DIR) / "tests/data/recording";
  const ParsedRecording parsed = parse(read_all(data / "v1-sample.pcr"));
  ASSERT_EQ(parsed.version, 1u);
  const std::string key_bytes = read_all(data / "v1-sample.pub");
  PublicKey key{};
  ASSERT_EQ(key_bytes.size(), key.size());
  std::copy(key_bytes.begin(), key_bytes.end(), key.begin());
  const Verification v = verify(parsed, key);
  EXPECT_TRUE(v.intact && v.complete && v.signature_checked) << v.problem;
  ChunkDecoder decoder(parsed.version);
  std::string output;
  for (const Chunk& chunk : parsed.chunks) {
    for (const Event& e : decoder.next(chunk)) output += e.kind == EventKind::output ? e.data : "";
  }
  EXPECT_NE(output.find("file4  notes.txt"), std::string::npos) << output;
}

// A streaming session gathers each chunk in the bytes of one already written.
TEST(Recording, RecycledStorageStartsTheNextChunkEmpty) {
  ChunkBuffer buffer;
  buffer.add({EventKind::output, 10, std::string(1000, 'a')});
  ChunkBuffer first = buffer.take();
  std::string storage = first.release_storage();
  EXPECT_TRUE(first.empty());
  EXPECT_EQ(first.size(), 0u);
  const std::size_t capacity = storage.capacity();
  EXPECT_GE(capacity, 1000u);

  buffer.add({EventKind::output, 20, "b"});
  ChunkBuffer second = buffer.take(std::move(storage));
  EXPECT_EQ(second.events(), 1u);
  buffer.add({EventKind::input, 30, "c"});
  EXPECT_EQ(buffer.bytes(), std::string("\x03\x00\x01"
                                        "c",
                                        4));
  EXPECT_EQ(buffer.first_us(), 30u);
  EXPECT_GE(buffer.bytes().capacity(), capacity);
}

// Compression contexts belong to threads: writers on several threads at once, and one writer
// whose chunks are compressed on alternating threads, still produce intact recordings.
TEST(Recording, WritersOnSeveralThreadsStayIntact) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const auto chunks = sample_chunks(8);
  std::vector<SpoolWriter> writers;
  for (int i = 0; i < 2; ++i) writers.push_back(make_writer(dir.path(), key, sample_header(i)));
  for (const std::vector<Event>& events : chunks) {
    std::vector<std::thread> threads;
    for (SpoolWriter& writer : writers) {
      threads.emplace_back([&] {
        ChunkBuffer buffer;
        for (const Event& e : events) buffer.add(e);
        EXPECT_FALSE(writer.append(buffer.take()));
      });
    }
    for (std::thread& t : threads) t.join();
    std::swap(writers[0], writers[1]);
  }
  for (SpoolWriter& writer : writers) {
    ASSERT_FALSE(writer.finish("client_exit"));
    const ParsedRecording parsed = parse(read_all(writer.path()));
    EXPECT_TRUE(verify(parsed, key.public_key()).complete);
    ASSERT_EQ(parsed.chunks.size(), chunks.size());
    ChunkDecoder decoder;
    for (std::size_t i = 0; i < chunks.size(); ++i)
      EXPECT_EQ(decoder.next(parsed.chunks[i]), chunks[i]);
  }
}

// The worked layout in docs/recording-format.md.
TEST(Recording, EventEncodingMatchesTheDocumentedBytes) {
  ChunkBuffer buffer;
  buffer.add({EventKind::input, 1, "ls\r"});
  buffer.add({EventKind::output, 500, "a\r\n"});
  buffer.add({EventKind::resize, 500, "", 132, 43});
  EXPECT_EQ(buffer.bytes(), std::string("\x03\x00\x03ls\r"
                                        "\x01\xf3\x03\x03"
                                        "a\r\n"
                                        "\x04\x00\x04\x84\x00\x2b\x00",
                                        20));
  EXPECT_EQ(buffer.first_us(), 1u);
  EXPECT_EQ(buffer.last_us(), 500u);
}

// Version 3: input typed by someone who joined the session carries its author's name.
TEST(Recording, JoinedInputEncodingMatchesTheDocumentedBytes) {
  ChunkBuffer buffer;
  Event typed{EventKind::input, 1, "ls\r"};
  typed.author = "bob";
  buffer.add(typed);
  EXPECT_EQ(buffer.bytes(), std::string("\x07\x00\x07\x03"
                                        "bobls\r",
                                        10));
}

TEST(Recording, JoinedInputKeepsItsAuthorAndOlderVersionsRefuseIt) {
  test::TempDir dir;
  const SigningKey key = new_key();
  Event by_bob{EventKind::input, 20, "sudo systemctl restart db\r"};
  by_bob.author = "bob";
  const std::vector<Event> events{
      {EventKind::input, 10, "uptime\r"}, by_bob, {EventKind::output, 30, "restarted\r\n"}};
  const Written w = write_recording(dir.path(), key, {events});
  ASSERT_EQ(w.parsed.version, kFormatVersion);
  ChunkDecoder decoder(w.parsed.version);
  const std::vector<Event> read = decoder.next(w.parsed.chunks.at(0));
  EXPECT_EQ(read, events);
  EXPECT_EQ(read[1].kind, EventKind::input);
  EXPECT_EQ(read[1].author, "bob");
  EXPECT_EQ(read[0].author, "");
  EXPECT_TRUE(verify(w.parsed, key.public_key()).intact);
  // A version 2 recording cannot hold one: a reader of that version names the unknown kind.
  ChunkDecoder version_two(2);
  EXPECT_THROW(
      {
        try {
          version_two.next(w.parsed.chunks.at(0));
        } catch (const RecordingError& e) {
          EXPECT_NE(std::string(e.what()).find("unknown event kind 7"), std::string::npos)
              << e.what();
          throw;
        }
      },
      RecordingError);
}

TEST(Recording, TimestampsNeverGoBackwards) {
  ChunkBuffer buffer;
  buffer.add({EventKind::output, 100, "a"});
  buffer.add({EventKind::output, 50, "b"});
  EXPECT_EQ(buffer.first_us(), 100u);
  EXPECT_EQ(buffer.last_us(), 100u);
  EXPECT_EQ(buffer.events(), 2u);
}

// Flips one byte at several places inside chunk k's record (type, length, seq, times, counts,
// previous hash, payload, frame checksum): verify must fail and name chunk k.
TEST(Recording, VerifyNamesTheChunkWithAFlippedByte) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(6));
  for (std::size_t k : {0u, 2u, 5u}) {
    const Chunk& c = w.parsed.chunks[k];
    for (std::size_t at :
         {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{5}, std::size_t{13},
          std::size_t{21}, std::size_t{29}, std::size_t{33}, std::size_t{40}, std::size_t{69},
          (69 + c.record.size()) / 2, c.record.size() - 1}) {
      std::string bytes = w.bytes;
      bytes[c.offset + at] = static_cast<char>(bytes[c.offset + at] ^ 0x01);
      const Verification v = verify_bytes(bytes, key);
      EXPECT_FALSE(v.intact && v.complete) << "chunk " << k << " byte " << at;
      EXPECT_NE(v.problem.find("chunk " + std::to_string(k) + " "), std::string::npos)
          << "chunk " << k << " byte " << at << ": " << v.problem;
    }
  }
}

TEST(Recording, VerifyCatchesAFlippedHeaderOrTrailer) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(3));

  std::string header = w.bytes;
  const std::size_t reason = header.find("disk full");
  header[reason] = 'D';
  EXPECT_EQ(verify_bytes(header, key).problem,
            "header or chunk 0 altered: chunk 0 does not chain to the header");

  std::string broken_json = w.bytes;
  broken_json[broken_json.find('{')] = '[';
  EXPECT_THROW(parse(broken_json), RecordingError);

  const std::size_t trailer = w.bytes.size() - w.parsed.trailer->record.size();
  std::string totals = w.bytes;
  totals[trailer + 5 + 32 + 8] ^= 0x01;  // event count
  EXPECT_EQ(verify_bytes(totals, key).problem,
            "trailer altered: its totals do not match the chunks");

  std::string reason_text = w.bytes;
  reason_text[reason_text.find("client_exit")] = 'C';
  EXPECT_EQ(verify_bytes(reason_text, key).problem.rfind("trailer altered: the signature", 0), 0u);

  std::string signature = w.bytes;
  signature.back() ^= 0x01;
  EXPECT_FALSE(verify_bytes(signature, key).intact);
}

TEST(Recording, VerifyNamesADeletedChunk) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(6));
  const auto without = [&](std::size_t k) {
    std::string bytes = w.bytes;
    bytes.erase(w.parsed.chunks[k].offset, w.parsed.chunks[k].record.size());
    return verify_bytes(bytes, key);
  };
  EXPECT_EQ(without(0).problem, "chunk 0 missing: chunk 1 follows the header");
  EXPECT_EQ(without(3).problem, "chunk 3 missing: chunk 4 follows chunk 2");
  EXPECT_EQ(without(5).problem,
            "chunk 5 missing: the trailer counts 6 chunks, the recording has 5");
  EXPECT_FALSE(without(3).intact);
}

TEST(Recording, VerifyNamesSwappedChunks) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(6));
  const Chunk& a = w.parsed.chunks[2];
  const Chunk& b = w.parsed.chunks[3];
  std::string bytes = w.bytes.substr(0, a.offset) + b.record + a.record +
                      w.bytes.substr(b.offset + b.record.size());
  ASSERT_EQ(bytes.size(), w.bytes.size());
  const Verification v = verify_bytes(bytes, key);
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.problem, "chunk 3 out of order: found where chunk 2 belongs");
  EXPECT_EQ(v.chunks_checked, 2u);
}

TEST(Recording, TruncatedSpoolVerifiesUpToItsLastWholeChunk) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(6));
  const Chunk& c = w.parsed.chunks[4];
  for (std::size_t cut : {std::size_t{2}, c.record.size() / 2, c.record.size() - 1}) {
    const ParsedRecording parsed = parse(w.bytes.substr(0, c.offset + cut));
    EXPECT_TRUE(parsed.truncated);
    EXPECT_EQ(parsed.valid_bytes, c.offset);
    const Verification v = verify(parsed, key.public_key());
    EXPECT_TRUE(v.intact);
    EXPECT_FALSE(v.complete);
    EXPECT_EQ(v.chunks_checked, 4u);
    EXPECT_EQ(v.problem, "truncated after chunk 3: chunk 4 at offset " + std::to_string(c.offset) +
                             " is cut off");
  }
}

TEST(Recording, ATornTrailerIsNamed) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(2));
  const std::size_t trailer = w.bytes.size() - w.parsed.trailer->record.size();
  const Verification v = verify(parse(w.bytes.substr(0, w.bytes.size() - 1)), key.public_key());
  EXPECT_TRUE(v.intact);
  EXPECT_FALSE(v.complete);
  EXPECT_EQ(v.problem, "truncated after chunk 1: the trailer at offset " + std::to_string(trailer) +
                           " is cut off");
}

TEST(Recording, UnfinishedSpoolIsIncomplete) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(3), /*finish=*/false);
  const Verification v = verify(w.parsed, key.public_key());
  EXPECT_TRUE(v.intact);
  EXPECT_FALSE(v.complete);
  EXPECT_EQ(v.chunks_checked, 3u);
  EXPECT_EQ(v.problem, "incomplete: no trailer after chunk 2");

  // Even unsigned, the last chunk's payload is covered by its zstd checksum.
  std::string bytes = w.bytes;
  bytes[bytes.size() - 6] ^= 0x20;
  EXPECT_EQ(verify_bytes(bytes, key).problem.rfind("chunk 2 altered", 0), 0u);
}

TEST(Recording, VerifyRefusesAnotherKey) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const SigningKey other = new_key();
  const Written w = write_recording(dir.path(), key, sample_chunks(2));
  const Verification v = verify(w.parsed, other.public_key());
  EXPECT_FALSE(v.intact);
  EXPECT_EQ(v.problem, "signed by another key: the recording names " + key.fingerprint() +
                           ", the public key given is " + other.fingerprint());
  const Verification unchecked = verify(w.parsed, std::nullopt);
  EXPECT_TRUE(unchecked.intact);
  EXPECT_FALSE(unchecked.signature_checked);
}

TEST(Recording, EmptyRecordingChainsTheTrailerToTheHeader) {
  test::TempDir dir;
  const SigningKey key = new_key();
  const Written w = write_recording(dir.path(), key, {});
  EXPECT_TRUE(w.parsed.chunks.empty());
  EXPECT_EQ(w.parsed.trailer->chain_head, w.parsed.header_hash);
  EXPECT_TRUE(verify(w.parsed, key.public_key()).complete);
}

TEST(Recording, NotARecording) {
  EXPECT_THROW(parse("hello world, this is text"), RecordingError);
  EXPECT_THROW(parse(""), RecordingError);
}

TEST(Recording, WriterRefusesAnExistingSpoolAndWritesAfterFinish) {
  test::TempDir dir;
  const SigningKey key = new_key();
  SpoolWriter writer = make_writer(dir.path(), key);
  auto again = SpoolWriter::create(dir.path(), sample_header(), key);
  ASSERT_TRUE(std::holds_alternative<std::error_code>(again));
  EXPECT_EQ(std::get<std::error_code>(again), std::errc::file_exists);
  EXPECT_FALSE(writer.finish("client_exit"));
  ChunkBuffer buffer;
  buffer.add({EventKind::output, 1, "late"});
  EXPECT_EQ(writer.append(buffer), std::errc::bad_file_descriptor);
  EXPECT_EQ(writer.finish("again"), std::errc::bad_file_descriptor);
}

// RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), as a full disk would with ENOSPC.
TEST(Recording, AFailedAppendLeavesTheFileReadableAndCanBeRetried) {
  test::TempDir dir;
  const SigningKey key = new_key();
  SpoolWriter writer = make_writer(dir.path(), key);
  ChunkBuffer first;
  first.add({EventKind::output, 10, "before the disk filled"});
  ASSERT_FALSE(writer.append(first));
  const auto size = fs::file_size(writer.path());

  ChunkBuffer big;
  big.add({EventKind::output, 20, std::string(100'000, 'x')});
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit tight = old;
  tight.rlim_cur = size + 10;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tight), 0);
  const std::error_code error = writer.append(big);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);

  EXPECT_EQ(error, std::errc::file_too_large);
  EXPECT_EQ(fs::file_size(writer.path()), size);
  EXPECT_EQ(writer.chunks(), 1u);
  ASSERT_FALSE(writer.append(big));
  ASSERT_FALSE(writer.finish("client_exit"));
  const Verification v = verify(parse(read_all(writer.path())), key.public_key());
  EXPECT_TRUE(v.intact && v.complete) << v.problem;
  EXPECT_EQ(v.chunks_checked, 2u);
}

// Sync::later writes the records at once (a reader sees them) and leaves only the fdatasync to
// the caller: sync(), or one syncfs for many files in the daemon.
TEST(Recording, AppendCanLeaveTheSyncToTheCaller) {
  test::TempDir dir;
  const SigningKey key = new_key();
  SpoolWriter writer = make_writer(dir.path(), key);
  std::vector<ChunkBuffer> chunks(2);
  chunks[0].add({EventKind::output, 10, "first"});
  chunks[1].add({EventKind::output, 20, "second"});
  ASSERT_FALSE(writer.append(chunks, SpoolWriter::Sync::later));
  const ParsedRecording written = parse(read_all(writer.path()));
  EXPECT_EQ(written.chunks.size(), 2u);
  EXPECT_FALSE(written.truncated);
  EXPECT_FALSE(writer.sync());
  ASSERT_FALSE(writer.finish("client_exit"));
  EXPECT_EQ(writer.sync(), std::errc::bad_file_descriptor);
  const Verification v = verify(parse(read_all(writer.path())), key.public_key());
  EXPECT_TRUE(v.intact && v.complete) << v.problem;
  EXPECT_EQ(v.chunks_checked, 2u);
}

TEST(Recording, PublicKeyLineAndFingerprint) {
  const SigningKey key = new_key();
  const std::string line = public_key_line(key.public_key(), "node1");
  EXPECT_EQ(line.rfind("portcullis-ed25519 ", 0), 0u);
  EXPECT_EQ(line.size(), 19 + 44 + 6);
  EXPECT_EQ(parse_public_key_line(line + "\n"), key.public_key());
  EXPECT_EQ(parse_public_key_line(line.substr(0, 19 + 44)), key.public_key());
  EXPECT_THROW(parse_public_key_line("ssh-ed25519 AAAA node1"), RecordingError);
  EXPECT_THROW(parse_public_key_line("portcullis-ed25519 AAAA node1"), RecordingError);
  const std::string fp = key.fingerprint();
  EXPECT_EQ(fp.rfind("SHA256:", 0), 0u);
  EXPECT_EQ(fp.size(), 7 + 43);  // 32 bytes in unpadded base64
}

std::array<unsigned char, crypto_sign_SECRETKEYBYTES> new_key_bytes() {
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  if (sodium_init() < 0) throw std::runtime_error("sodium_init");
  crypto_sign_keypair(pk.data(), sk.data());
  return sk;
}

TEST(Recording, SigningKeyFileIsChecked) {
  test::TempDir dir;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  unsigned char sk[crypto_sign_SECRETKEYBYTES];
  ASSERT_EQ(sodium_init() < 0, false);
  crypto_sign_keypair(pk, sk);
  const std::string raw(reinterpret_cast<const char*>(sk), sizeof sk);
  // Written as `portcullis init` writes it: mode 0600.
  const auto key_file = [&](const std::string& name, const std::string& bytes) {
    const std::filesystem::path path = dir.write(name, bytes);
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path;
  };
  const SigningKey key = SigningKey::load(key_file("signing.key", raw));
  EXPECT_EQ(0, std::memcmp(key.public_key().data(), pk, sizeof pk));
  EXPECT_THROW(SigningKey::load(key_file("short.key", raw.substr(0, 63))), RecordingError);
  std::string mismatched = raw;
  mismatched[40] ^= 0x01;
  EXPECT_THROW(SigningKey::load(key_file("bad.key", mismatched)), RecordingError);
  EXPECT_THROW(SigningKey::load(dir.path() / "absent.key"), RecordingError);
}

// Like vault.key: a signing key others could read, or that another user owns, is refused.
TEST(Recording, SigningKeyFileMustBePrivateAndOwnedByThisUser) {
  test::TempDir dir;
  const std::string raw(reinterpret_cast<const char*>(new_key_bytes().data()), 64);
  const std::filesystem::path file = dir.write("signing.key", raw);
  std::filesystem::permissions(file, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write |
                                         std::filesystem::perms::group_read);
  try {
    SigningKey::load(file);
    ADD_FAILURE() << "a key of mode 0640 was accepted";
  } catch (const RecordingError& e) {
    EXPECT_NE(std::string(e.what()).find("has mode 0640"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("chmod 600"), std::string::npos) << e.what();
  }
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_NO_THROW(SigningKey::load(file));
  if (::geteuid() == 0) {  // only root can give a file away
    ASSERT_EQ(::chown(file.c_str(), 65534, 65534), 0);
    try {
      SigningKey::load(file);
      ADD_FAILURE() << "a key owned by another user was accepted";
    } catch (const RecordingError& e) {
      EXPECT_NE(std::string(e.what()).find("owned by uid 65534"), std::string::npos) << e.what();
    }
  }
}

// The .pub file beside the key is made once from the secret; later reads need only it.
TEST(Recording, PublicKeyFileIsWrittenBesideTheSigningKey) {
  test::TempDir dir;
  const std::string raw(reinterpret_cast<const char*>(new_key_bytes().data()), 64);
  const std::filesystem::path file = dir.write("signing.key", raw);
  std::filesystem::permissions(
      file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  const PublicKey expected = SigningKey::load(file).public_key();
  EXPECT_FALSE(std::filesystem::exists(public_key_file(file)));
  EXPECT_EQ(load_public_key(file, "node7"), expected);
  ASSERT_TRUE(std::filesystem::exists(public_key_file(file)));
  std::filesystem::remove(file);  // the secret is gone: the public key is still known
  EXPECT_EQ(load_public_key(file, "node7"), expected);
}

// A typical shell session: `ls -lR /usr/share` through the writer, read in 4 KiB pieces as a
// pty would deliver it, 1 ms apart, cut into chunks at kChunkBytes as the daemon does.
TEST(Recording, TypicalShellOutputCompressesToAtMost15Percent) {
  FILE* pipe = popen("ls -lR /usr/share 2>/dev/null", "r");
  ASSERT_NE(pipe, nullptr);
  test::TempDir dir;
  const SigningKey key = new_key();
  SpoolWriter writer = make_writer(dir.path(), key);
  ChunkBuffer buffer;
  std::uint64_t raw = 0, at = 0;
  char piece[4096];
  std::size_t n = 0;
  while ((n = fread(piece, 1, sizeof piece, pipe)) > 0) {
    buffer.add({EventKind::output, at += 1000, std::string(piece, n)});
    raw += n;
    if (buffer.size() >= kChunkBytes) {
      ASSERT_FALSE(writer.append(buffer.take()));
    }
  }
  pclose(pipe);
  ASSERT_FALSE(writer.append(buffer.take()));
  ASSERT_FALSE(writer.finish("client_exit"));
  ASSERT_GT(raw, 1'000'000u) << "ls -lR /usr/share printed too little to measure";
  const auto file = fs::file_size(writer.path());
  const double ratio = static_cast<double>(file) / static_cast<double>(raw);
  std::cout << "ls -lR /usr/share: " << raw << " bytes raw, " << writer.compressed_bytes()
            << " compressed, spool file " << file << " (" << ratio * 100 << "%)\n";
  EXPECT_LE(ratio, 0.15);
  EXPECT_TRUE(verify(parse(read_all(writer.path())), key.public_key()).complete);
}

// The chunks the writer hands over are the file's records, as the reader finds them: the
// end-of-session ship compares the stored bytes with the spool file.
TEST(Recording, WrittenChunksHandedOverAreTheRecordsOfTheFile) {
  test::TempDir dir;
  auto created = SpoolWriter::create(dir.path(), sample_header(5), new_key());
  SpoolWriter& writer = std::get<SpoolWriter>(created);
  std::vector<Chunk> written;
  for (int round = 0; round < 3; ++round) {
    std::vector<ChunkBuffer> batch(2);
    for (ChunkBuffer& buffer : batch) {
      buffer.add(EventKind::output, static_cast<std::uint64_t>(round) * 1000, "hello live\r\n");
    }
    ASSERT_FALSE(writer.append(batch, SpoolWriter::Sync::now, &written));
  }
  const ParsedRecording parsed = parse(read_all(writer.path()));
  EXPECT_EQ(parsed.header_record, writer.header_record());
  ASSERT_EQ(written.size(), parsed.chunks.size());
  ChunkDecoder decoder(parsed.version);
  for (std::size_t i = 0; i < written.size(); ++i) {
    const Chunk& mine = written[i];
    const Chunk& read = parsed.chunks[i];
    EXPECT_EQ(mine.seq, read.seq);
    EXPECT_EQ(mine.record, read.record);
    // Format 4: the writer hashed the content it had; a reader decompresses to hash it.
    EXPECT_TRUE(mine.hashed);
    EXPECT_FALSE(read.hashed);
    EXPECT_EQ(mine.hash, decoder.skip(read));
    EXPECT_EQ(mine.prev_hash, read.prev_hash);
    EXPECT_EQ(mine.offset, read.offset);
    EXPECT_EQ(mine.first_us, read.first_us);
    EXPECT_EQ(mine.last_us, read.last_us);
    EXPECT_EQ(mine.event_count, read.event_count);
    EXPECT_EQ(mine.raw_size, read.raw_size);
  }
}

}  // namespace
}  // namespace portcullis::recorder
