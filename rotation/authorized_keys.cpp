#include "rotation/authorized_keys.h"

#include <vector>

namespace portcullis::rotation {
namespace {

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> found;
  std::size_t at = 0;
  while (true) {
    at = line.find_first_not_of(" \t\r", at);
    if (at == std::string_view::npos) return found;
    const std::size_t end = line.find_first_of(" \t\r", at);
    found.push_back(line.substr(at, end == std::string_view::npos ? end : end - at));
    if (end == std::string_view::npos) return found;
    at = end;
  }
}

// The type and base64 words of a key line; empty when it has fewer than two words.
struct KeyWords {
  std::string_view type;
  std::string_view blob;
};
KeyWords key_words(std::string_view key_line) {
  const std::vector<std::string_view> found = words(key_line);
  if (found.size() < 2) return {};
  return {found[0], found[1]};
}

// Options may come first and hold quoted spaces, so the key is looked for as two words in a
// row anywhere on the line rather than at a fixed place. A comment line never matches.
bool line_authorizes(std::string_view line, const KeyWords& key) {
  const std::vector<std::string_view> found = words(line);
  if (key.blob.empty() || found.empty() || found.front().starts_with('#')) return false;
  for (std::size_t i = 0; i + 1 < found.size(); ++i) {
    if (found[i] == key.type && found[i + 1] == key.blob) return true;
  }
  return false;
}

// Calls `visit(line, with_newline)` for each line of `text`, the last one even without an end.
template <typename Visit>
void for_each_line(std::string_view text, Visit visit) {
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    const std::size_t next = end == std::string_view::npos ? text.size() : end + 1;
    visit(text.substr(start, (end == std::string_view::npos ? text.size() : end) - start),
          text.substr(start, next - start));
    start = next;
  }
}

}  // namespace

bool authorizes(std::string_view text, std::string_view key_line) {
  const KeyWords key = key_words(key_line);
  bool found = false;
  for_each_line(text, [&](std::string_view line, std::string_view) {
    found = found || line_authorizes(line, key);
  });
  return found;
}

std::string with_key_added(std::string_view text, std::string_view key_line) {
  std::string result(text);
  if (authorizes(text, key_line)) return result;
  if (!result.empty() && result.back() != '\n') result += '\n';
  result += key_line;
  result += '\n';
  return result;
}

std::string without_key(std::string_view text, std::string_view key_line) {
  const KeyWords key = key_words(key_line);
  std::string result;
  for_each_line(text, [&](std::string_view line, std::string_view with_newline) {
    if (!line_authorizes(line, key)) result += with_newline;
  });
  return result;
}

}  // namespace portcullis::rotation
