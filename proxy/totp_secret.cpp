#include "proxy/totp_secret.h"

namespace portcullis::proxy {

access::OpenTotpSecret totp_secret_opener(const vault::Vault& vault, const std::string& user) {
  return [&vault, user](const std::vector<std::uint8_t>& sealed,
                        const std::function<void(std::span<const std::uint8_t>)>& use) {
    const vault::Secret secret = vault.unseal(sealed, access::totp_context(user));
    use(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(secret.reveal().data()),
                                      secret.reveal().size()));
  };
}

}  // namespace portcullis::proxy
