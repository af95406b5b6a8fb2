// [vault]: the key that seals the stored credentials.
#pragma once

#include <filesystem>

#include "common/config.h"

namespace portcullis {

struct VaultConfig {
  std::filesystem::path key_file;  // absolute after loading; default <state_dir>/vault.key
  bool operator==(const VaultConfig&) const = default;
};

void declare_vault_config(ConfigSchema& schema, VaultConfig& vault);

}  // namespace portcullis
