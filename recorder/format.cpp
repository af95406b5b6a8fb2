// Byte-level building blocks of the recording format, the chunk buffer and the header JSON.
#include <openssl/evp.h>
#include <sodium.h>

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/common.h"
#include "recorder/internal.h"

namespace portcullis::recorder {
namespace detail {

void put_u16(std::string& out, std::uint16_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// LEB128: seven bits per byte, least significant first, high bit set on all but the last.
void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void ByteReader::fail(const std::string& problem) const {
  throw RecordingError(what_ + ": " + problem + " at byte " + std::to_string(pos_));
}

std::string_view ByteReader::take(std::size_t n) {
  if (n > remaining()) fail("needs " + std::to_string(n) + " more bytes");
  const std::string_view part = bytes_.substr(pos_, n);
  pos_ += n;
  return part;
}

std::uint8_t ByteReader::u8() { return static_cast<std::uint8_t>(take(1)[0]); }

namespace {
std::uint64_t little_endian(std::string_view bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(bytes[i])) << (8 * i);
  }
  return v;
}
}  // namespace

std::uint16_t ByteReader::u16() { return static_cast<std::uint16_t>(little_endian(take(2))); }
std::uint32_t ByteReader::u32() { return static_cast<std::uint32_t>(little_endian(take(4))); }
std::uint64_t ByteReader::u64() { return little_endian(take(8)); }

std::uint64_t ByteReader::varint() {
  std::uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    const std::uint8_t byte = u8();
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return v;
  }
  fail("varint longer than 10 bytes");
}

Hash sha256(std::string_view bytes) {
  Hash hash{};
  crypto_hash_sha256(hash.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                     bytes.size());
  return hash;
}

Sha256::Sha256() : context_(EVP_MD_CTX_new()) {
  if (!context_ ||
      EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_), EVP_sha256(), nullptr) != 1) {
    EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_));
    throw std::bad_alloc();
  }
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

void Sha256::update(std::string_view bytes) {
  if (EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), bytes.data(), bytes.size()) != 1) {
    throw std::bad_alloc();
  }
}

Hash Sha256::finish() {
  Hash hash{};
  unsigned int size = 0;
  auto* context = static_cast<EVP_MD_CTX*>(context_);
  if (EVP_DigestFinal_ex(context, hash.data(), &size) != 1 || size != hash.size() ||
      EVP_DigestInit_ex(context, EVP_sha256(), nullptr) != 1) {
    throw std::bad_alloc();
  }
  return hash;
}

std::string chunk_fixed_fields(std::uint64_t seq, std::uint64_t first_us, std::uint64_t last_us,
                               std::uint32_t event_count, std::uint32_t raw_size,
                               const Hash& prev_hash) {
  std::string fixed;
  fixed.reserve(kChunkFixedSize);
  put_u64(fixed, seq);
  put_u64(fixed, first_us);
  put_u64(fixed, last_us);
  put_u32(fixed, event_count);
  put_u32(fixed, raw_size);
  fixed.append(reinterpret_cast<const char*>(prev_hash.data()), prev_hash.size());
  return fixed;
}

Hash content_hash(std::string_view fixed_fields, std::string_view events) {
  thread_local Sha256 sha;
  sha.update(fixed_fields);
  sha.update(events);
  return sha.finish();
}

Hash segment_seal(const Hash& last_chunk, std::string_view count_table_frame) {
  thread_local Sha256 sha;
  sha.update(std::string_view(reinterpret_cast<const char*>(last_chunk.data()), last_chunk.size()));
  sha.update(count_table_frame);
  return sha.finish();
}

CCtx chunk_context(int level) {
  CCtx context(ZSTD_createCCtx());
  if (!context) return context;
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_compressionLevel, level);
  // The frame checksum lets a reader detect a damaged payload even in an unsigned last chunk.
  ZSTD_CCtx_setParameter(context.get(), ZSTD_c_checksumFlag, 1);
  return context;
}

std::optional<std::string_view> compress_frame(ZSTD_CCtx* context, std::vector<char>& out,
                                               std::string_view raw, std::string_view prefix) {
  if (!prefix.empty() && ZSTD_isError(ZSTD_CCtx_refPrefix(context, prefix.data(), prefix.size()))) {
    return std::nullopt;
  }
  const std::size_t bound = ZSTD_compressBound(raw.size());
  if (out.size() < bound) out.resize(bound);
  const std::size_t size = ZSTD_compress2(context, out.data(), bound, raw.data(), raw.size());
  if (ZSTD_isError(size)) return std::nullopt;
  return std::string_view(out.data(), size);
}

std::string to_hex(const Hash& hash, std::size_t bytes) {
  return portcullis::to_hex(
      std::string_view(reinterpret_cast<const char*>(hash.data()), std::min(bytes, hash.size())));
}

std::string make_record(RecordType type, std::string_view body) {
  std::string record;
  record.reserve(kRecordPrefixSize + body.size());
  record.push_back(static_cast<char>(type));
  put_u32(record, static_cast<std::uint32_t>(body.size()));
  record.append(body);
  return record;
}

std::string_view history_for(std::string_view history, std::size_t raw_size) {
  return raw_size < kHistoryBelow ? history : std::string_view();
}

void extend_history(std::string& history, std::string_view raw) {
  if (raw.size() >= kHistoryBytes) {
    history.assign(raw.substr(raw.size() - kHistoryBytes));
    return;
  }
  const std::size_t keep = std::min(history.size(), kHistoryBytes - raw.size());
  history.erase(0, history.size() - keep);
  history.append(raw);
}

std::string file_prefix(std::uint32_t version) {
  std::string prefix(kMagic);
  put_u32(prefix, version);
  return prefix;
}

std::string signed_message(std::string_view trailer_body_unsigned, std::uint32_t version) {
  std::string message(version >= kFirstVersionWithContentHash ? kSignatureDomainV4
                                                              : kSignatureDomain);
  message.append(trailer_body_unsigned);
  return message;
}

}  // namespace detail

// Event encoding: kind u8, varint delta µs from the previous event of the chunk (0 for the
// first, whose time is the chunk's first_us), varint length, bytes.
void ChunkBuffer::begin(EventKind kind, std::uint64_t at_us) {
  const std::uint64_t at = events_ == 0 ? at_us : std::max(at_us, last_us_);
  if (events_ == 0) {
    first_us_ = at;
    bytes_.reserve(std::min(expected_size_, 2 * kChunkBytes));
  }
  bytes_.push_back(static_cast<char>(kind));
  detail::put_varint(bytes_, at - (events_ == 0 ? at : last_us_));
  last_us_ = at;
  ++events_;
}

void ChunkBuffer::add(const Event& event) {
  if (event.kind == EventKind::input && !event.author.empty()) {
    // Version 3: one length byte, the author's name, then the keys.
    const std::size_t author_size = std::min<std::size_t>(event.author.size(), kMaxAuthorBytes);
    begin(EventKind::joined_input, event.at_us);
    detail::put_varint(bytes_, 1 + author_size + event.data.size());
    bytes_.push_back(static_cast<char>(author_size));
    bytes_.append(event.author, 0, author_size);
    bytes_.append(event.data);
    return;
  }
  if (event.kind != EventKind::resize) return add(event.kind, event.at_us, event.data);
  begin(event.kind, event.at_us);
  detail::put_varint(bytes_, 4);
  detail::put_u16(bytes_, event.cols);
  detail::put_u16(bytes_, event.rows);
}

void ChunkBuffer::add(EventKind kind, std::uint64_t at_us, std::string_view data) {
  begin(kind, at_us);
  detail::put_varint(bytes_, data.size());
  bytes_.append(data);
}

ChunkBuffer ChunkBuffer::take(std::string storage) {
  ChunkBuffer taken = std::move(*this);
  *this = ChunkBuffer();
  storage.clear();
  bytes_ = std::move(storage);
  expected_size_ = taken.size();
  return taken;
}

std::string ChunkBuffer::release_storage() {
  std::string storage = std::move(bytes_);
  *this = ChunkBuffer();
  return storage;
}

namespace {

std::int64_t micros_since_epoch(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

// The clock counts nanoseconds in 64 bits, so it holds the years 1678 to 2261; a time outside
// them (found by recording_fuzz) would overflow converting, and is damage.
Clock::time_point from_micros(std::int64_t us) {
  constexpr std::int64_t kLimit = std::numeric_limits<Clock::rep>::max() / 1000 - 1;
  if (us > kLimit || us < -kLimit) {
    throw RecordingError("a time in the header is outside the years 1678 to 2261");
  }
  return Clock::time_point(std::chrono::microseconds(us));
}

}  // namespace

std::string header_json(const Header& h) {
  nlohmann::json approvals = nlohmann::json::array();
  for (const Approval& a : h.approvals) {
    approvals.push_back({{"approver", a.approver}, {"at_us", micros_since_epoch(a.at)}});
  }
  nlohmann::json json = {{"format", kFormatVersion},
                         {"session_id", h.session_id},
                         {"node", h.node},
                         {"grant_id", h.grant_id},
                         {"user", h.user},
                         {"target", h.target},
                         {"login", h.login},
                         {"reason", h.reason},
                         {"ticket", h.ticket},
                         {"approvals", approvals},
                         {"break_glass", h.break_glass},
                         {"client", h.client},
                         {"started_at_us", micros_since_epoch(h.started_at)},
                         {"cols", h.cols},
                         {"rows", h.rows},
                         {"term", h.term},
                         {"node_key_fingerprint", h.node_key_fingerprint}};
  // Only in sessions that logged in with a certificate; readers of older recordings and
  // older readers see no such key.
  if (h.certificate) {
    json["certificate"] = {{"serial", h.certificate->serial},
                           {"key_id", h.certificate->key_id},
                           {"valid_after_us", micros_since_epoch(h.certificate->valid_after)},
                           {"valid_before_us", micros_since_epoch(h.certificate->valid_before)},
                           {"ca_fingerprint", h.certificate->ca_fingerprint}};
  }
  // Invalid UTF-8 (a hostile TERM) is replaced rather than refused: the recording must start.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Header header_from_json(std::string_view text) {
  try {
    const nlohmann::json json = nlohmann::json::parse(text);
    const auto format = json.at("format").get<std::uint32_t>();
    if (format < 1 || format > kFormatVersion) {
      throw RecordingError("header: format " + json.at("format").dump() + " is not supported");
    }
    Header h;
    h.format = format;
    h.session_id = json.at("session_id").get<std::int64_t>();
    h.node = json.at("node").get<std::string>();
    h.grant_id = json.at("grant_id").get<std::int64_t>();
    h.user = json.at("user").get<std::string>();
    h.target = json.at("target").get<std::string>();
    h.login = json.at("login").get<std::string>();
    h.reason = json.at("reason").get<std::string>();
    h.ticket = json.at("ticket").get<std::string>();
    for (const nlohmann::json& a : json.at("approvals")) {
      h.approvals.push_back(
          {a.at("approver").get<std::string>(), from_micros(a.at("at_us").get<std::int64_t>())});
    }
    h.break_glass = json.at("break_glass").get<bool>();
    h.client = json.at("client").get<std::string>();
    h.started_at = from_micros(json.at("started_at_us").get<std::int64_t>());
    h.cols = json.at("cols").get<std::uint16_t>();
    h.rows = json.at("rows").get<std::uint16_t>();
    h.term = json.at("term").get<std::string>();
    h.node_key_fingerprint = json.at("node_key_fingerprint").get<std::string>();
    if (json.contains("certificate")) {
      const nlohmann::json& c = json.at("certificate");
      h.certificate =
          CertificateRecord{c.at("serial").get<std::uint64_t>(), c.at("key_id").get<std::string>(),
                            from_micros(c.at("valid_after_us").get<std::int64_t>()),
                            from_micros(c.at("valid_before_us").get<std::int64_t>()),
                            c.at("ca_fingerprint").get<std::string>()};
    }
    return h;
  } catch (const nlohmann::json::exception& e) {
    throw RecordingError(std::string("header record is damaged: ") + e.what());
  }
}

}  // namespace portcullis::recorder
