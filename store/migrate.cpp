#include "store/store.h"

namespace portcullis::store {
namespace {

// Any fixed number works; it only has to differ from the other advisory locks we take.
constexpr long long kMigrationLock = 0x706f727463756c6cLL;  // "portcull"

void lock_migrations(pqxx::work& tx) {
  tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
}

void ensure_migrations_table(pqxx::connection& conn) {
  pqxx::work tx(conn);
  // Taken before CREATE so two first-time migrators do not race on the catalog.
  lock_migrations(tx);
  tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " version integer PRIMARY KEY,"
      " name text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now())");
  tx.commit();
}

// Applies one migration unless another migrator already did; true if this call applied it.
bool apply(pqxx::connection& conn, const Migration& migration) {
  pqxx::work tx(conn);
  lock_migrations(tx);
  if (!tx.exec_params("SELECT 1 FROM schema_migrations WHERE version = $1", migration.version)
           .empty()) {
    return false;
  }
  try {
    tx.exec(migration.sql);
  } catch (const pqxx::sql_error& e) {
    throw std::runtime_error("migration " + migration.name + " failed: " + e.what());
  }
  tx.exec_params("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", migration.version,
                 migration.name);
  tx.commit();
  return true;
}

}  // namespace

std::vector<std::string> migrate(pqxx::connection& conn) {
  ensure_migrations_table(conn);
  std::vector<std::string> applied;
  for (const Migration& migration : builtin_migrations()) {
    if (apply(conn, migration)) applied.push_back(migration.name);
  }
  return applied;
}

}  // namespace portcullis::store
