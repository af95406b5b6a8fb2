// The SSH login name selects what a connection is for: "alice" runs control commands,
// "alice:db01" or "alice:db01:postgres" reaches a target account. "alice+db01" and
// "alice+db01+postgres" mean the same: scp, rsync and git split "USER@HOST:PATH" at the first
// ':', so they need a name without one. Names never hold '+' or ':' (access check_name).
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
