// The SSH login name selects what a connection is for: "alice" runs control commands,
// "alice:db01" or "alice:db01:postgres" reaches a target account.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace portcullis::proxy {

struct LoginName {
  std::string user;
  std::string target;  // empty: control commands
  std::string login;   // empty: the one login the user's grants on target cover
};

// Returns nullopt when the name is malformed (empty parts, too many ':', bad characters).
std::optional<LoginName> parse_login_name(std::string_view text);

}  // namespace portcullis::proxy
