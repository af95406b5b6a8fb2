// Free text a person writes for others to read: checked once, before patterns and the database.
#include <algorithm>

#include "access/access.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

// Code points, not bytes: a reason in Greek may be as long as one in English.
std::size_t count_characters(std::string_view utf8) {
  return static_cast<std::size_t>(std::count_if(utf8.begin(), utf8.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

}  // namespace

void check_free_text(std::string_view value, std::string_view what, std::size_t max_chars,
                     bool required) {
  const std::string name(what);
  if (value.empty()) {
    if (required) throw AccessError(name + " must not be empty");
    return;
  }
  // Bytes first, so a megabyte is refused without being walked through.
  if (value.size() > max_chars * 4 ||
      (is_valid_utf8(value) && count_characters(value) > max_chars)) {
    throw AccessError(name + " is longer than " + std::to_string(max_chars) + " characters");
  }
  if (!is_valid_utf8(value)) throw AccessError(name + " is not valid UTF-8 text");
  if (value.find('\0') != std::string_view::npos) {
    throw AccessError(name + " must not contain a NUL character");
  }
}

}  // namespace portcullis::access
