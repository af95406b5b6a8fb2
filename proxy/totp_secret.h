// How the daemon opens a user's sealed TOTP secret for access::check_totp_code: with the
// vault, for an ssh login and a web console sign-in alike.
#pragma once

#include "access/mfa_check.h"
#include "vault/vault.h"

namespace portcullis::proxy {

access::OpenTotpSecret totp_secret_opener(const vault::Vault& vault, const std::string& user);

}  // namespace portcullis::proxy
