// New passwords for password accounts: 32 characters from libsodium's random source.
#pragma once

#include <string_view>

#include "vault/vault.h"

namespace portcullis::rotation {

// Letters, digits and a few marks no shell, terminal or passwd prompt treats specially; a
// password has at least one of each class, for targets whose PAM asks for variety.
inline constexpr std::string_view kPasswordAlphabet =
    "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-_.+=";
inline constexpr std::size_t kPasswordLength = 32;

vault::Secret new_password();

}  // namespace portcullis::rotation
