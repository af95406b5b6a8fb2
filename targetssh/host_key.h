// Whether the key a target presents is one the bastion trusts for it.
#pragma once

#include <libssh/libssh.h>

#include <chrono>
#include <string>

#include "access/access.h"

namespace portcullis::targetssh {

// The host key algorithms to offer: only the pinned key's, so a target with several host keys
// presents the one we pinned; for a target trusted through a host CA, the plain key types
// whose certificates we can check (see host_certificates.h).
std::string host_key_algorithms(const access::Target& target);

// Throws LoginError (host_key_refused) unless the key the target presented is trusted for it:
// the pinned key, or a key the target's host CA certified. `timeout` bounds asking the target
// for its certificates.
void check_host_key(ssh_session session, const access::Target& target,
                    std::chrono::seconds timeout);

}  // namespace portcullis::targetssh
