// Internal to the rotation library: replacing one account's credential on its target, a file
// per kind (key_change.cpp, password_change.cpp). Each logs in with the vaulted credential,
// changes the target, and logs in with the new credential before it removes the old; a failure
// before that login undoes what it can and leaves the old credential working.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "access/rotation.h"
#include "targetssh/targetssh.h"
#include "vault/vault.h"

namespace portcullis::rotation {

struct Change {
  const access::RotationClaim& claim;
  const vault::Vault& vault;
  std::chrono::seconds timeout;
  // Stores the new credential, sealed, as the account's pending secret before the target
  // changes.
  std::function<void(const std::vector<std::uint8_t>& sealed)> keep_pending;
};

struct Changed {
  std::vector<std::uint8_t> sealed;  // the new credential, for the vault
  std::string details_json;          // for the audit row: fingerprints, never the secret
  std::string summary;               // one line for people
};

Changed change_key(const Change& change);
Changed change_password(const Change& change);

// A logged-in session to the claim's target that says goodbye when it goes.
class TargetLogin {
 public:
  TargetLogin(const Change& change, const targetssh::Credential& credential);
  ~TargetLogin();
  TargetLogin(const TargetLogin&) = delete;
  TargetLogin& operator=(const TargetLogin&) = delete;
  ssh_session get() const { return session_.get(); }

 private:
  UniqueFd socket_;  // the connection; libssh works on a duplicate, which disconnect closes
  targetssh::Session session_;
};

// The new credential sealed for the claim's account, and kept as its pending secret.
std::vector<std::uint8_t> seal_pending(const Change& change, const vault::Secret& secret);

}  // namespace portcullis::rotation
