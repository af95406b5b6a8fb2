// Time-based one-time passwords as authenticator apps implement them: RFC 6238 TOTP over
// RFC 4226 HOTP with HMAC-SHA1, 6 digits, 30-second steps, secrets shown in RFC 4648 base32.
// No I/O, no state: the caller stores the secret (sealed in the vault) and the last used step.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::access::totp {

constexpr std::chrono::seconds kStep{30};
constexpr int kDigits = 6;

// 20 random bytes (the 160 bits RFC 4226 recommends) from libsodium.
std::vector<std::uint8_t> generate_secret();

// RFC 4648 base32, upper case, without '=' padding (as authenticator apps expect).
std::string base32_encode(std::span<const std::uint8_t> bytes);
// Case-insensitive; spaces and '=' are ignored anywhere. nullopt for any other character, for a
// length no encoding produces, or for non-zero unused bits in the last character (so that every
// byte string has exactly one accepted spelling, up to case, spaces and padding).
std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text);

// floor(unix seconds / 30), also before 1970.
std::int64_t step_at(std::chrono::system_clock::time_point t);

// The RFC 4226 HOTP value of `step` (the counter), kDigits digits, zero padded.
std::string code_at(std::span<const std::uint8_t> secret, std::int64_t step);

// The step whose code equals `code` among step_at(now)-1, step_at(now), step_at(now)+1 (one
// step of clock skew either way), but only if that step is greater than `last_used_step`: a code
// is accepted once, and no older code after a newer one. The caller must store the returned step
// as the new `last_used_step` before it grants anything. Codes are compared in constant time.
// Anything but exactly kDigits ASCII digits (after trimming surrounding whitespace) → nullopt.
std::optional<std::int64_t> accept(std::span<const std::uint8_t> secret, std::string_view code,
                                   std::chrono::system_clock::time_point now,
                                   std::optional<std::int64_t> last_used_step);

// otpauth://totp/ISSUER:USER?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30,
// issuer and user percent-encoded (everything but RFC 3986 unreserved characters; space is %20).
std::string otpauth_uri(std::string_view issuer, std::string_view user,
                        std::span<const std::uint8_t> secret);

}  // namespace portcullis::access::totp
