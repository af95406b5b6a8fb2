#include "proxy/login_name.h"

#include <algorithm>
#include <vector>

namespace portcullis::proxy {
namespace {

constexpr std::size_t kMaxPartLength = 64;

// Names are shown in logs and messages: keep them to a conservative character set so a
// peer cannot inject control characters or log-line separators.
bool is_valid_part(std::string_view part) {
  if (part.empty() || part.size() > kMaxPartLength) return false;
  return std::all_of(part.begin(), part.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '@';
  });
}

}  // namespace

std::optional<LoginName> parse_login_name(std::string_view text) {
  // One separator per name: ':' if there is one, else '+'. A name mixing both keeps a '+' in
  // a part, which no part may hold, so it is refused.
  const char separator = text.find(':') != std::string_view::npos ? ':' : '+';
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    std::size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at - start));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  if (parts.size() > 3) return std::nullopt;
  if (!std::all_of(parts.begin(), parts.end(), is_valid_part)) return std::nullopt;
  LoginName name{std::string(parts[0]), "", ""};
  if (parts.size() > 1) name.target = parts[1];
  if (parts.size() > 2) name.login = parts[2];
  return name;
}

}  // namespace portcullis::proxy
