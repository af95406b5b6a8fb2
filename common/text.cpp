#include <cctype>
#include <cstdint>

#include "common/common.h"

namespace portcullis {
namespace {

// The length of the valid UTF-8 sequence starting at text[i], or 0 if the byte there does not
// start one (RFC 3629, table 3-7 of the Unicode standard: no overlongs, no surrogates).
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[i + k]); };
  const auto continuation = [&](std::size_t k, unsigned char low = 0x80,
                                unsigned char high = 0xBF) {
    return i + k < text.size() && byte(k) >= low && byte(k) <= high;
  };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    const unsigned char low = lead == 0xE0 ? 0xA0 : 0x80;
    const unsigned char high = lead == 0xED ? 0x9F : 0xBF;
    return continuation(1, low, high) && continuation(2) ? 3 : 0;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    const unsigned char low = lead == 0xF0 ? 0x90 : 0x80;
    const unsigned char high = lead == 0xF4 ? 0x8F : 0xBF;
    return continuation(1, low, high) && continuation(2) && continuation(3) ? 4 : 0;
  }
  return 0;
}

void append_hex_byte(std::string& out, unsigned char byte) {
  static constexpr char kDigits[] = "0123456789abcdef";
  out += "\\x";
  out += kDigits[byte >> 4];
  out += kDigits[byte & 0x0F];
}

// Shared by inert_text and inert_line: `escape_layout` also escapes tab, CR and newline.
std::string neutralise(std::string_view text, bool escape_layout) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    const auto byte = static_cast<unsigned char>(text[i]);
    if (length == 0) {
      append_hex_byte(out, byte);
      ++i;
      continue;
    }
    if (length == 1) {
      if (byte == '\t' || byte == '\n' || byte == '\r') {
        if (!escape_layout && byte != '\r') {
          out += static_cast<char>(byte);
        } else {
          out += byte == '\t' ? "\\t" : byte == '\n' ? "\\n" : "\\r";
        }
      } else if (byte < 0x20 || byte == 0x7F) {
        append_hex_byte(out, byte);
      } else {
        out += static_cast<char>(byte);
      }
    } else if (length == 2 && byte == 0xC2 && static_cast<unsigned char>(text[i + 1]) <= 0x9F) {
      // U+0080..U+009F: C1 controls, CSI (U+009B) and OSC (U+009D) among them.
      out += "\\u00";
      static constexpr char kDigits[] = "0123456789abcdef";
      const unsigned char code = static_cast<unsigned char>(text[i + 1]);
      out += kDigits[code >> 4];
      out += kDigits[code & 0x0F];
    } else {
      out.append(text.substr(i, length));
    }
    i += length;
  }
  return out;
}

}  // namespace

std::string one_line(std::string_view text) {
  std::string line;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) {
      line += c;
    } else if (!line.empty() && line.back() != ' ') {
      line += ' ';
    }
  }
  if (!line.empty() && line.back() == ' ') line.pop_back();
  return line;
}

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string joined;
  for (const std::string& item : items) {
    if (!joined.empty()) joined += separator;
    joined += item;
  }
  return joined;
}

bool is_valid_utf8(std::string_view text) {
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) return false;
    i += length;
  }
  return true;
}

std::string escape_invalid_utf8(std::string_view text) {
  if (is_valid_utf8(text)) return std::string(text);
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size();) {
    const std::size_t length = utf8_sequence_length(text, i);
    if (length == 0) {
      append_hex_byte(out, static_cast<unsigned char>(text[i]));
      ++i;
    } else {
      out.append(text.substr(i, length));
      i += length;
    }
  }
  return out;
}

std::string inert_text(std::string_view text) { return neutralise(text, false); }
std::string inert_line(std::string_view text) { return neutralise(text, true); }

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    hex += kDigits[byte >> 4];
    hex += kDigits[byte & 0x0f];
  }
  return hex;
}

}  // namespace portcullis
