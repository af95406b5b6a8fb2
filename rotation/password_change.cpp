// A password account: passwd on the target, through the vaulted password, then a login with
// the new one. If that login fails, passwd runs again to put the old password back.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "rotation/credential_change.h"
#include "rotation/password.h"
#include "rotation/remote.h"

namespace portcullis::rotation {

Changed change_password(const Change& change) {
  const access::RotationClaim& claim = change.claim;
  const targetssh::Credential current = targetssh::vaulted_credential(claim.account, change.vault);
  targetssh::Credential next;
  next.kind = access::CredentialKind::password;
  next.secret = new_password();
  std::vector<std::uint8_t> sealed = seal_pending(change, next.secret);

  TargetLogin login(change, current);
  run_passwd(login.get(), current.secret, next.secret, change.timeout);
  try {
    TargetLogin verified(change, next);
  } catch (...) {
    try {
      run_passwd(login.get(), next.secret, current.secret, change.timeout);
    } catch (const std::exception& e) {
      spdlog::warn(
          "rotation of {}@{}: the old password could not be put back ({}); the new "
          "one is the account's pending secret",
          claim.account.login, claim.target.name, e.what());
    }
    throw;
  }
  return Changed{std::move(sealed), nlohmann::json{{"kind", "password"}}.dump(),
                 "password replaced (32 random characters)"};
}

}  // namespace portcullis::rotation
