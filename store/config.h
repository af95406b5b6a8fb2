// [database]: where PostgreSQL is, and the journal of what the daemon owes it.
#pragma once

#include <filesystem>
#include <string>

#include "common/config.h"

namespace portcullis {

struct DatabaseConfig {
  std::string url;  // libpq URI
  // Absolute after loading; default <state_dir>/database.journal. What the daemon owes
  // the database (audit rows, session ends) is written here first, so an outage loses nothing.
  std::filesystem::path journal_file;
  bool operator==(const DatabaseConfig&) const = default;
};

void declare_database_config(ConfigSchema& schema, DatabaseConfig& database);

}  // namespace portcullis
