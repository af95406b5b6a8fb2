// Internal to the access library: the audit chain's encoding, shared by the writer
// (audit.cpp), the checkpoints (audit_checkpoints.cpp) and the verifier (audit_verify.cpp).
#pragma once

#include <sodium.h>

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>

namespace portcullis::access::detail {

inline constexpr std::size_t kAuditHashSize = crypto_hash_sha256_BYTES;

// field(x) = 8-byte big-endian length of x in bytes || x, for every field in order: the
// encoding row hashes and checkpoint signatures cover, so no field can bleed into the next.
std::string length_prefixed(std::initializer_list<std::string_view> fields);

// The chain hash of one row (encoding in audit.cpp).
std::string audit_row_hash(std::string_view at, std::string_view actor, std::string_view action,
                           std::string_view object, std::string_view details,
                           std::string_view prev_hash);

// A timestamptz column or expression as the canonical text rows and checkpoints are hashed
// and signed with: RFC 3339 UTC with exactly six fraction digits.
std::string canonical_time(std::string_view expression);

// Throws unless libsodium is ready.
void require_sodium();

}  // namespace portcullis::access::detail
