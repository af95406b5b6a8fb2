#include "vault/config.h"

namespace portcullis {
namespace {

constexpr ConfigKey<VaultConfig> kVaultKeys[] = {
    {"key_file", [](const ConfigValue& v, VaultConfig& s) { s.key_file = v.path(); }},
};

}  // namespace

void declare_vault_config(ConfigSchema& schema, VaultConfig& vault) {
  vault.key_file = schema.state_dir() / "vault.key";
  schema.table("vault", vault, kVaultKeys);
}

}  // namespace portcullis
