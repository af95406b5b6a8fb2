#include "sshkey/wire.h"

namespace portcullis::sshkey::wire {

void Writer::u32(std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes_.push_back(static_cast<char>(value >> shift));
}

void Writer::u64(std::uint64_t value) {
  u32(static_cast<std::uint32_t>(value >> 32));
  u32(static_cast<std::uint32_t>(value));
}

void Writer::string(std::string_view value) {
  u32(static_cast<std::uint32_t>(value.size()));
  bytes_.append(value);
}

std::optional<std::uint32_t> Reader::u32() {
  if (failed_ || rest_.size() < 4) {
    failed_ = true;
    return std::nullopt;
  }
  std::uint32_t value = 0;
  for (int i = 0; i < 4; ++i) value = (value << 8) | static_cast<unsigned char>(rest_[i]);
  rest_.remove_prefix(4);
  return value;
}

std::optional<std::uint64_t> Reader::u64() {
  const std::optional<std::uint32_t> high = u32();
  if (!high) return std::nullopt;
  const std::optional<std::uint32_t> low = u32();
  if (!low) return std::nullopt;
  return (static_cast<std::uint64_t>(*high) << 32) | *low;
}

std::optional<std::string_view> Reader::string() {
  const std::optional<std::uint32_t> length = u32();
  if (!length || *length > rest_.size()) {
    failed_ = true;
    return std::nullopt;
  }
  const std::string_view value = rest_.substr(0, *length);
  rest_.remove_prefix(*length);
  return value;
}

}  // namespace portcullis::sshkey::wire
