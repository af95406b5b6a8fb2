#include "store/config.h"

namespace portcullis {
namespace {

constexpr ConfigKey<DatabaseConfig> kDatabaseKeys[] = {
    {"url", [](const ConfigValue& v, DatabaseConfig& d) { d.url = v.string(); }, true},
    {"journal_file", [](const ConfigValue& v, DatabaseConfig& d) { d.journal_file = v.path(); }},
};

}  // namespace

void declare_database_config(ConfigSchema& schema, DatabaseConfig& database) {
  database.journal_file = schema.state_dir() / "database.journal";
  schema.table("database", database, kDatabaseKeys);
}

}  // namespace portcullis
