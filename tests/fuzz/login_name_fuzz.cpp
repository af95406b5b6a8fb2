// The SSH login name, the first string a peer sends ("alice", "alice:db01:postgres"). What
// parse_login_name accepts goes into logs, audit rows and messages, so it must hold nothing
// but the documented characters, and joining its parts again must give the name back.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "proxy/login_name.h"

namespace {

bool plain(const std::string& part) {
  for (const char c : part) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '@';
    if (!ok) return false;
  }
  return part.size() <= 64;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto name = portcullis::proxy::parse_login_name(text);
  if (!name) return 0;
  std::string joined = name->user;
  if (!name->target.empty()) joined += ":" + name->target;
  if (!name->login.empty()) joined += ":" + name->login;
  const bool consistent = !name->user.empty() && plain(name->user) && plain(name->target) &&
                          plain(name->login) && (name->login.empty() || !name->target.empty());
  if (!consistent || joined != text) std::abort();
  return 0;
}
