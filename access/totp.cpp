#include "access/totp.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <array>
#include <mutex>
#include <stdexcept>

namespace portcullis::access::totp {
namespace {

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
constexpr std::size_t kSecretSize = 20;
constexpr std::uint32_t kModulus = 1'000'000;  // 10^kDigits
static_assert(kDigits == 6, "kModulus must be 10^kDigits");

void ensure_sodium() {
  static std::once_flag once;
  static bool ready = false;
  std::call_once(once, [] { ready = sodium_init() >= 0; });
  if (!ready) throw std::runtime_error("cannot initialise libsodium");
}

// The value of one base32 character, or -1.
int base32_value(char c) {
  if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  const std::size_t at = kAlphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

std::array<unsigned char, 20> hmac_sha1(std::span<const std::uint8_t> key,
                                        std::span<const unsigned char> data) {
  std::array<unsigned char, 20> digest{};
  unsigned int size = 0;
  // OpenSSL reads a null key as "no key given" rather than as an empty one.
  static const unsigned char kEmpty = 0;
  const unsigned char* key_bytes = key.empty() ? &kEmpty : key.data();
  if (HMAC(EVP_sha1(), key_bytes, static_cast<int>(key.size()), data.data(), data.size(),
           digest.data(), &size) == nullptr ||
      size != digest.size()) {
    throw std::runtime_error("HMAC-SHA1 failed");
  }
  return digest;
}

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const std::size_t first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kSpace) - first + 1);
}

bool is_code(std::string_view text) {
  if (text.size() != kDigits) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool is_unreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// RFC 3986: everything but unreserved characters as %XX of its UTF-8 bytes.
std::string percent_encode(std::string_view text) {
  constexpr std::string_view kHex = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    if (is_unreserved(c)) {
      out += c;
      continue;
    }
    const auto byte = static_cast<unsigned char>(c);
    out += '%';
    out += kHex[byte >> 4];
    out += kHex[byte & 0x0f];
  }
  return out;
}

}  // namespace

std::vector<std::uint8_t> generate_secret() {
  ensure_sodium();
  std::vector<std::uint8_t> secret(kSecretSize);
  randombytes_buf(secret.data(), secret.size());
  return secret;
}

std::string base32_encode(std::span<const std::uint8_t> bytes) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t byte : bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += kAlphabet[(buffer >> bits) & 0x1f];
    }
  }
  if (bits > 0) out += kAlphabet[(buffer << (5 - bits)) & 0x1f];
  return out;
}

std::optional<std::vector<std::uint8_t>> base32_decode(std::string_view text) {
  std::vector<std::uint8_t> out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == ' ' || c == '=') continue;
    const int value = base32_value(c);
    if (value < 0) return std::nullopt;
    buffer = (buffer << 5) | static_cast<std::uint32_t>(value);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(buffer >> bits));
    }
  }
  // Encoders emit at most 4 unused bits, all zero: 5 or more means a dangling character.
  if (bits >= 5 || (buffer & ((1U << bits) - 1)) != 0) return std::nullopt;
  return out;
}

std::int64_t step_at(std::chrono::system_clock::time_point t) {
  const std::int64_t seconds =
      std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count();
  // Integer division truncates toward zero; steps before 1970 must round down too.
  return seconds / kStep.count() - (seconds % kStep.count() < 0 ? 1 : 0);
}

std::string code_at(std::span<const std::uint8_t> secret, std::int64_t step) {
  std::array<unsigned char, 8> counter{};
  auto value = static_cast<std::uint64_t>(step);
  for (std::size_t i = counter.size(); i-- > 0; value >>= 8) {
    counter[i] = static_cast<unsigned char>(value & 0xff);
  }
  const std::array<unsigned char, 20> digest = hmac_sha1(secret, counter);
  // RFC 4226 5.3 dynamic truncation: 31 bits read at the offset the last nibble names.
  const unsigned offset = digest[19] & 0x0f;
  const std::uint32_t binary = (std::uint32_t{digest[offset]} & 0x7f) << 24 |
                               std::uint32_t{digest[offset + 1]} << 16 |
                               std::uint32_t{digest[offset + 2]} << 8 | digest[offset + 3];
  std::string code = std::to_string(binary % kModulus);
  return std::string(kDigits - code.size(), '0') + code;
}

std::optional<std::int64_t> accept(std::span<const std::uint8_t> secret, std::string_view code,
                                   std::chrono::system_clock::time_point now,
                                   std::optional<std::int64_t> last_used_step) {
  const std::string_view typed = trim(code);
  if (!is_code(typed)) return std::nullopt;
  const std::int64_t current = step_at(now);
  std::optional<std::int64_t> matched;
  // Every candidate is computed and compared, so the time taken does not tell which matched.
  // The latest match wins: on the rare collision it burns the most steps.
  for (std::int64_t step = current - 1; step <= current + 1; ++step) {
    const std::string expected = code_at(secret, step);
    const bool equal = sodium_memcmp(expected.data(), typed.data(), kDigits) == 0;
    if (equal && (!last_used_step || step > *last_used_step)) matched = step;
  }
  return matched;
}

std::string otpauth_uri(std::string_view issuer, std::string_view user,
                        std::span<const std::uint8_t> secret) {
  const std::string encoded_issuer = percent_encode(issuer);
  return "otpauth://totp/" + encoded_issuer + ":" + percent_encode(user) +
         "?secret=" + base32_encode(secret) + "&issuer=" + encoded_issuer +
         "&algorithm=SHA1&digits=" + std::to_string(kDigits) +
         "&period=" + std::to_string(kStep.count());
}

}  // namespace portcullis::access::totp
