#include "rotation/password.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace portcullis::rotation {
namespace {

bool has_every_class(const std::string& text) {
  auto any = [&](auto predicate) {
    return std::any_of(text.begin(), text.end(),
                       [&](char c) { return predicate(static_cast<unsigned char>(c)) != 0; });
  };
  return any(::isupper) && any(::islower) && any(::isdigit) && any(::ispunct);
}

}  // namespace

vault::Secret new_password() {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start");
  // A draw lacking a class is rare (under 1%); drawing again keeps every character uniform.
  while (true) {
    std::string text(kPasswordLength, ' ');
    for (char& c : text) {
      c = kPasswordAlphabet[randombytes_uniform(
          static_cast<std::uint32_t>(kPasswordAlphabet.size()))];
    }
    // Moved, not copied: the Secret wipes the only buffer that held it.
    if (has_every_class(text)) return vault::Secret(std::move(text));
    sodium_memzero(text.data(), text.size());
  }
}

}  // namespace portcullis::rotation
