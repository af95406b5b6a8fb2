// SSH wire encoding (RFC 4251 section 5) for what the certificate code reads and writes:
// uint32, uint64 and length-prefixed strings. Internal to sshkey.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::sshkey::wire {

class Writer {
 public:
  void u32(std::uint32_t value);
  void u64(std::uint64_t value);
  void string(std::string_view value);
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Reads from a buffer it does not own. Every read checks the length first: a field that runs
// past the end yields nullopt, never a read beyond it. A failed read fails every read after
// it, so a sequence of reads can be checked once, at its last.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  std::optional<std::uint32_t> u32();
  std::optional<std::uint64_t> u64();
  std::optional<std::string_view> string();
  // How many bytes were read so far, from the start of `bytes`.
  std::size_t consumed(std::string_view bytes) const { return bytes.size() - rest_.size(); }
  bool at_end() const { return !failed_ && rest_.empty(); }

 private:
  std::string_view rest_;
  bool failed_ = false;
};

}  // namespace portcullis::sshkey::wire
