#include <optional>
#include <string>
#include <utility>

#include "access/queries.h"
#include "sshkey/sshkey.h"

namespace portcullis::access {
namespace {

sshkey::Key import_public_key(const std::string& line, std::string_view what) {
  sshkey::Key key = sshkey::parse_public_key(line);
  if (!key) {
    throw AccessError(std::string(what) +
                      " is not an OpenSSH public key (expected a line like 'ssh-ed25519 AAAA...')");
  }
  return key;
}

std::string fingerprint_of(ssh_key key) {
  std::optional<std::string> fingerprint = sshkey::fingerprint(key);
  if (!fingerprint) throw AccessError("cannot compute the fingerprint of a public key");
  return *std::move(fingerprint);
}

}  // namespace

namespace detail {

ParsedPublicKey parse_public_key(const std::string& line, std::string_view what) {
  const sshkey::Key key = import_public_key(line, what);
  std::optional<std::string> normalized = sshkey::public_key_line(key.get());
  if (!normalized) {
    throw AccessError(std::string(what) + " cannot be encoded as an OpenSSH public key");
  }
  return {*std::move(normalized), fingerprint_of(key.get())};
}

}  // namespace detail

std::string public_key_fingerprint(const std::string& openssh_line) {
  return fingerprint_of(import_public_key(openssh_line, "the key").get());
}

}  // namespace portcullis::access
