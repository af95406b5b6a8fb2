// Public interface of the `rotation` library: replacing a vaulted key or password on its
// target after use (issue 15), without ever locking anyone out. The old credential stays in
// the vault, and on the target, until the new one has been seen to log in. Blocking: the CLI
// calls it directly, portcullisd on a thread of its own.
#pragma once

#include <optional>
#include <string>

#include "access/access.h"
#include "access/rotation.h"
#include "rotation/config.h"
#include "store/store.h"
#include "vault/vault.h"

namespace portcullis::rotation {

// What one rotation did, to print, log or raise an alert about; never a secret.
struct Report {
  std::string target;
  std::string login;
  access::CredentialKind kind = access::CredentialKind::key;
  bool rotated = false;
  // Rotated: what changed ("key SHA256:a... replaced by SHA256:b..."); failed: why.
  std::string summary;
  int failures = 0;    // consecutive, after this attempt
  bool alert = false;  // this failure reached [rotation] alert_after: raise `rotation_failed`
};

class Rotator {
 public:
  // `holder` names who rotates (the node, or the CLI) in the account row while it does;
  // `actor` is the audit actor.
  Rotator(const RotationConfig& config, const vault::Vault& vault, std::string holder,
          std::string actor);

  // Rotates one after-use account that is due, if any (access::claim_due_rotation).
  std::optional<Report> rotate_next_due(store::Database& database) const;
  // Rotates TARGET's account LOGIN now. Throws access::AccessError when it cannot be claimed
  // (unknown, a certificate account, being rotated elsewhere).
  Report rotate(store::Database& database, const std::string& target,
                const std::string& login) const;

 private:
  Report run(store::Database& database, const access::RotationClaim& claim) const;

  const RotationConfig& config_;
  const vault::Vault& vault_;
  std::string holder_;
  std::string actor_;
};

}  // namespace portcullis::rotation
