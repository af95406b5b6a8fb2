// The host certificates a target offers. libssh 0.10's client never negotiates certificate
// host key algorithms (it strips them from what it offers), so the session itself only proves
// that the target holds a plain key; the certificates for its keys are asked for separately
// with OpenSSH's `ssh-keyscan -c`, and the key the session proved must be one they certify.
// Certificates are public: fetching them over another connection gives an impostor nothing,
// since it would still need the certified key's private half for the session.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "access/access.h"

namespace portcullis::targetssh {

// The certificate lines ssh-keyscan -c printed for target.host:port ("TYPE BASE64"); empty when
// the target offers none. Throws LoginError when the scan cannot run or times out.
std::vector<std::string> scan_host_certificates(const access::Target& target,
                                                std::chrono::seconds timeout);

}  // namespace portcullis::targetssh
