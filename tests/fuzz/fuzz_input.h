// Reads structured values off the front of a fuzz input. Every read succeeds: past the end it
// returns zeros and empty strings, so any byte string is a valid input and the fuzzer never
// wastes its time on inputs rejected for being short.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::fuzz {

class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size)
      : bytes_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return bytes_.empty(); }

  std::uint8_t u8() {
    if (bytes_.empty()) return 0;
    const auto value = static_cast<std::uint8_t>(bytes_.front());
    bytes_.remove_prefix(1);
    return value;
  }

  std::uint16_t u16() {
    const std::uint16_t low = u8();
    return static_cast<std::uint16_t>(low | (u8() << 8));
  }

  // At most `max` bytes, as many as the next byte says.
  std::string bytes(std::size_t max) {
    const std::size_t n = std::min<std::size_t>({u8(), max, bytes_.size()});
    std::string taken(bytes_.substr(0, n));
    bytes_.remove_prefix(n);
    return taken;
  }

  // Everything not read yet.
  std::string_view rest() {
    const std::string_view rest = bytes_;
    bytes_ = {};
    return rest;
  }

 private:
  std::string_view bytes_;
};

}  // namespace portcullis::fuzz
