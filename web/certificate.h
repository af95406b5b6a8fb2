// A self-signed TLS certificate for the console, for `portcullis init` on a bastion that has no
// certificate from the company's CA yet (and for the demo). Browsers warn about it until it is
// replaced or trusted; [web] tls_cert and tls_key name the real pair.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace portcullis::web {

// Writes an ECDSA P-256 key (0600) and a certificate for it, valid a year, naming `names` (host
// names or IP addresses) as subject alternative names. Chromium refuses Ed25519 certificates,
// hence P-256. Returns the certificate's SHA-256 fingerprint ("AB:CD:..."). Throws
// std::runtime_error when OpenSSL or the files fail.
std::string create_self_signed_certificate(const std::filesystem::path& cert_file,
                                           const std::filesystem::path& key_file,
                                           const std::vector<std::string>& names);

}  // namespace portcullis::web
