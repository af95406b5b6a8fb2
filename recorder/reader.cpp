// Reading recordings: the file structure (parse), the chunks' events in order (ChunkDecoder),
// and the integrity check (verify). Input is untrusted: every length is checked before use.
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "recorder/internal.h"
#include "recorder/keys.h"

namespace portcullis::recorder {
namespace {

using detail::RecordType;

// A decompressed chunk larger than this is damage: the writer never produces one.
constexpr std::uint64_t kMaxRawSize = 256u << 20;

std::string chunk_name(std::uint64_t seq) { return "chunk " + std::to_string(seq); }

std::string after_name(const ParsedRecording& r) {
  return r.chunks.empty() ? "the header" : chunk_name(r.chunks.back().seq);
}

std::uint64_t next_seq(const ParsedRecording& r) {
  return r.chunks.empty() ? 0 : r.chunks.back().seq + 1;
}

void check(bool ok, const Chunk& c, const std::string& problem) {
  if (!ok) throw RecordingError(chunk_name(c.seq) + ": " + problem);
}

std::string decompress(ZSTD_DCtx* dctx, const Chunk& c, std::string_view prefix) {
  const std::string_view frame = c.frame();
  check(ZSTD_findFrameCompressedSize(frame.data(), frame.size()) == frame.size(), c,
        "the payload is not exactly one zstd frame");
  check(ZSTD_getFrameContentSize(frame.data(), frame.size()) == c.raw_size && c.raw_size > 0 &&
            c.raw_size <= kMaxRawSize,
        c, "the payload size does not match the chunk header");
  // The prefix applies to the next frame only: a chunk without one decodes with none.
  if (!prefix.empty() && ZSTD_isError(ZSTD_DCtx_refPrefix(dctx, prefix.data(), prefix.size()))) {
    throw std::bad_alloc();
  }
  std::string raw(c.raw_size, '\0');
  const std::size_t n =
      ZSTD_decompressDCtx(dctx, raw.data(), raw.size(), frame.data(), frame.size());
  check(!ZSTD_isError(n), c,
        std::string("the payload does not decompress: ") +
            (ZSTD_isError(n) ? ZSTD_getErrorName(n) : ""));
  check(n == raw.size(), c, "the payload size does not match the chunk header");
  return raw;
}

// Reads one event; `keep` false only checks it (no copies of its bytes).
Event decode_event(detail::ByteReader& in, std::uint64_t& at, const Chunk& c, std::uint32_t version,
                   bool keep = true) {
  Event e;
  const std::uint8_t kind = in.u8();
  const std::uint8_t last_kind = version >= detail::kFirstVersionWithAuthors ? 7 : 6;
  check(kind >= 1 && kind <= last_kind, c, "unknown event kind " + std::to_string(kind));
  e.kind = static_cast<EventKind>(kind);
  const std::uint64_t delta = in.varint();
  check(delta <= c.last_us - at, c, "an event lies after the chunk's last time");
  at += delta;
  e.at_us = at;
  const std::uint64_t length = in.varint();
  check(length <= in.remaining(), c, "an event runs past the end of the chunk");
  const std::string_view data = in.take(length);
  if (e.kind == EventKind::resize) {
    check(length == 4, c, "a resize event is not 4 bytes");
    detail::ByteReader size(data, chunk_name(c.seq) + " resize");
    e.cols = size.u16();
    e.rows = size.u16();
  } else if (e.kind == EventKind::joined_input) {
    const std::size_t author_size = data.empty() ? 0 : static_cast<unsigned char>(data[0]);
    check(!data.empty() && author_size > 0 && 1 + author_size <= data.size(), c,
          "a joined input event does not name its author");
    e.kind = EventKind::input;
    if (keep) {
      e.author = std::string(data.substr(1, author_size));
      e.data = std::string(data.substr(1 + author_size));
    }
  } else if (keep) {
    e.data = std::string(data);
  }
  return e;
}

// Every event of a chunk's bytes, checked against the chunk's fields; `keep` false only checks.
std::vector<Event> decode_events(std::string_view raw, const Chunk& c, std::uint32_t version,
                                 bool keep) {
  detail::ByteReader in(raw, chunk_name(c.seq));
  std::vector<Event> events;
  std::uint64_t at = c.first_us;
  std::uint64_t count = 0;
  try {
    while (in.remaining() > 0) {
      Event e = decode_event(in, at, c, version, keep);
      ++count;
      if (keep) events.push_back(std::move(e));
    }
  } catch (const RecordingError& e) {
    if (std::string_view(e.what()).starts_with(chunk_name(c.seq) + ":")) throw;
    check(false, c, e.what());
  }
  check(count == c.event_count, c, "the event count does not match the chunk header");
  check(count > 0 && at == c.last_us, c, "the last event's time does not match the chunk header");
  return events;
}

}  // namespace

std::string_view Chunk::frame() const {
  constexpr std::size_t kFixed = detail::kRecordPrefixSize + detail::kChunkFixedSize;
  return record.size() < kFixed ? std::string_view() : std::string_view(record).substr(kFixed);
}

namespace detail {
void check_events(std::string_view events, const Chunk& chunk, std::uint32_t version) {
  check(chunk.first_us <= chunk.last_us, chunk, "first time after last time");
  decode_events(events, chunk, version, false);
}
}  // namespace detail

ParsedRecording parse(std::string_view file) {
  RecordStream stream = RecordStream::over(file);
  ParsedRecording r;
  r.version = stream.version();
  r.header = stream.header();
  r.header_record = stream.header_record();
  r.header_hash = stream.header_hash();
  for (Chunk chunk; stream.next_chunk(chunk);) {
    // A segment's chunks were decompressed, checked and hashed by the stream: their events are
    // not kept, so a parsed archive takes its compressed size in memory, not its raw size.
    if (chunk.from_segment) chunk.content = std::string();
    r.chunks.push_back(std::move(chunk));
  }
  r.trailer = stream.trailer();
  r.truncated = stream.truncated();
  r.torn_trailer = stream.torn_trailer();
  r.damage = stream.damage();
  r.stop_offset = stream.stop_offset();
  r.valid_bytes = stream.valid_bytes();
  return r;
}

void ChunkDecoder::FreeContext::operator()(ZSTD_DCtx* context) const { ZSTD_freeDCtx(context); }

ChunkDecoder::ChunkDecoder(std::uint32_t format_version)
    : version_(format_version), context_(ZSTD_createDCtx()) {
  if (!context_) throw std::bad_alloc();
}

ChunkDecoder::ChunkDecoder(std::uint32_t format_version, std::string history)
    : ChunkDecoder(format_version) {
  history_ = std::move(history);
}

std::string_view ChunkDecoder::content(const Chunk& c) {
  if (c.from_segment) {
    // Decompressed and hashed by the stream; segments are frames of their own, without history.
    check(c.content.size() == c.raw_size, c, "the payload size does not match the chunk header");
    hash_ = c.hash;
    return c.content;
  }
  check(c.record.size() >= detail::kRecordPrefixSize + detail::kChunkFixedSize, c,
        "the record is too short");
  check(c.first_us <= c.last_us, c, "first time after last time");
  const bool with_history = version_ >= detail::kFirstVersionWithHistory;
  raw_ =
      decompress(context_.get(), c, with_history ? detail::history_for(history_, c.raw_size) : "");
  if (with_history) detail::extend_history(history_, raw_);
  hash_ = version_ >= detail::kFirstVersionWithContentHash
              ? detail::content_hash(std::string_view(c.record).substr(detail::kRecordPrefixSize,
                                                                       detail::kChunkFixedSize),
                                     raw_)
              : c.hash;
  return raw_;
}

std::vector<Event> ChunkDecoder::next(const Chunk& c) {
  return decode_events(content(c), c, version_, true);
}

const Hash& ChunkDecoder::skip(const Chunk& c) {
  content(c);
  return hash_;
}

namespace {

// The chunk at `index` does not follow its predecessor: say whether it was altered, moved or a
// chunk before it is missing.
std::string link_problem(const ParsedRecording& r, std::size_t index, std::uint64_t expected) {
  const Chunk& c = r.chunks[index];
  const std::string previous = expected == 0 ? "the header" : chunk_name(expected - 1);
  if (c.seq == expected) {
    return chunk_name(c.seq) + " altered: its previous-chunk hash does not match " + previous;
  }
  const bool expected_later =
      std::any_of(r.chunks.begin() + static_cast<std::ptrdiff_t>(index) + 1, r.chunks.end(),
                  [&](const Chunk& later) { return later.seq == expected; });
  if (c.seq > expected && !expected_later) {
    return chunk_name(expected) + " missing: " + chunk_name(c.seq) + " follows " + previous;
  }
  return chunk_name(c.seq) + " out of order: found where " + chunk_name(expected) + " belongs";
}

std::string check_chunks(const ParsedRecording& r, Verification& v, Hash& head) {
  head = r.header_hash;
  ChunkDecoder decoder(r.version);
  for (std::size_t i = 0; i < r.chunks.size(); ++i) {
    const Chunk& c = r.chunks[i];
    const std::uint64_t expected = v.chunks_checked;
    // The chain first: from version 2 a chunk decodes only after the ones before it, so a
    // missing or moved chunk must be named as such, not as the next chunk failing to decode.
    if (c.prev_hash == head && c.seq != expected) {
      return chunk_name(expected) + " altered: its sequence number reads " + std::to_string(c.seq);
    }
    if (c.prev_hash != head || c.seq != expected) {
      if (expected == 0 && c.seq == 0) {
        return "header or chunk 0 altered: chunk 0 does not chain to the header";
      }
      return link_problem(r, i, expected);
    }
    if (c.from_segment) {
      // The stream decompressed the segment, checked its chunks' events and hashed them.
      head = c.hash;
    } else {
      try {
        decoder.next(c);
      } catch (const RecordingError& e) {
        const std::string what = e.what();
        return what.substr(0, what.find(':')) + " altered" + what.substr(what.find(':'));
      }
      head = decoder.hash();
    }
    ++v.chunks_checked;
  }
  return "";
}

std::string check_trailer(const ParsedRecording& r, const Trailer& t, const Hash& head,
                          std::uint64_t chunks) {
  if (t.chunk_count > chunks) {
    return chunk_name(chunks) + " missing: the trailer counts " + std::to_string(t.chunk_count) +
           " chunks, the recording has " + std::to_string(chunks);
  }
  if (t.chunk_count < chunks || t.chain_head != head) {
    return "trailer altered: its chain head does not match " + after_name(r);
  }
  std::uint64_t events = 0, raw = 0, compressed = 0;
  for (const Chunk& c : r.chunks) {
    events += c.event_count;
    raw += c.raw_size;
    compressed += c.frame().size();
  }
  // Version 4 signs 0: the stored size depends on the form, and the evidence must not.
  if (r.version >= detail::kFirstVersionWithContentHash) compressed = 0;
  if (t.event_count != events || t.raw_bytes != raw || t.compressed_bytes != compressed ||
      t.duration_us != (r.chunks.empty() ? 0 : r.chunks.back().last_us)) {
    return "trailer altered: its totals do not match the chunks";
  }
  return "";
}

std::string check_signature(const ParsedRecording& r, const Trailer& t, const PublicKey& key) {
  const std::string given = fingerprint(key);
  if (given != r.header.node_key_fingerprint) {
    return "signed by another key: the recording names " + r.header.node_key_fingerprint +
           ", the public key given is " + given;
  }
  if (!check_trailer_signature(t, key, r.version)) {
    return "trailer altered: the signature does not verify with " + given;
  }
  return "";
}

}  // namespace

bool check_trailer_signature(const Trailer& t, const PublicKey& key, std::uint32_t version) {
  if (sodium_init() < 0) throw RecordingError("cannot initialise libsodium");
  const std::string_view body = std::string_view(t.record).substr(
      detail::kRecordPrefixSize, t.record.size() - detail::kRecordPrefixSize - t.signature.size());
  const std::string message = detail::signed_message(body, version);
  return crypto_sign_verify_detached(t.signature.data(),
                                     reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), key.data()) == 0;
}

Verification verify(const ParsedRecording& r, const std::optional<PublicKey>& public_key) {
  if (sodium_init() < 0) throw RecordingError("cannot initialise libsodium");
  Verification v;
  Hash head{};
  v.problem = check_chunks(r, v, head);
  if (!v.problem.empty()) return v;
  if (!r.damage.empty()) {
    v.problem = r.damage;
    return v;
  }
  v.intact = true;
  v.chain_head = head;
  if (r.truncated) {
    v.problem = "truncated after " + after_name(r) + ": " +
                (r.torn_trailer ? "the trailer" : chunk_name(next_seq(r))) + " at offset " +
                std::to_string(r.stop_offset) + " is cut off";
    return v;
  }
  if (!r.trailer) {
    v.problem = "incomplete: no trailer after " + after_name(r);
    return v;
  }
  v.problem = check_trailer(r, *r.trailer, head, v.chunks_checked);
  if (v.problem.empty() && public_key) {
    v.problem = check_signature(r, *r.trailer, *public_key);
    v.signature_checked = v.problem.empty();
  }
  v.intact = v.problem.empty();
  v.complete = v.intact;
  v.chain_head = head;
  return v;
}

}  // namespace portcullis::recorder
