// Public keys of the nodes that sign recordings in the node_keys table. Everything that only
// verifies reads these (or the .pub files, public_key_file.cpp), never a secret key.
#include <spdlog/spdlog.h>

#include <cstring>

#include "common/common.h"
#include "recorder/keys.h"
#include "recorder/postgres_store.h"

namespace portcullis::recorder {
namespace {

std::string bytes_of(const PublicKey& key) {
  return std::string(reinterpret_cast<const char*>(key.data()), key.size());
}

}  // namespace

void register_node_key(pqxx::connection& conn, const std::string& node, const PublicKey& key) {
  pqxx::work tx(conn);
  tx.exec_params(
      "INSERT INTO node_keys (fingerprint, node, public_key) VALUES ($1, $2, $3) "
      "ON CONFLICT (fingerprint) DO NOTHING",
      fingerprint(key), node, pqxx::binarystring(bytes_of(key)));
  tx.commit();
}

std::vector<PublicKey> stored_node_keys(pqxx::work& tx) {
  std::vector<PublicKey> keys;
  for (const auto& row : tx.exec("SELECT public_key FROM node_keys ORDER BY registered_at")) {
    const pqxx::binarystring bytes(row[0]);
    PublicKey key{};
    if (bytes.size() != key.size()) continue;  // the table's CHECK makes this impossible
    std::memcpy(key.data(), bytes.data(), key.size());
    keys.push_back(key);
  }
  return keys;
}

void publish_node_key(const std::filesystem::path& signing_key, const std::string& node,
                      const std::string& database_url) {
  const PublicKey key = SigningKey::load(signing_key).public_key();
  if (!std::filesystem::exists(public_key_file(signing_key))) load_public_key(signing_key, node);
  try {
    pqxx::connection conn(database_url);
    register_node_key(conn, node, key);
  } catch (const std::exception& e) {
    spdlog::warn(
        "node={} cannot register its public key {} in the database: {}; auditors "
        "cannot verify its recordings until it is registered (at the next start)",
        node, fingerprint(key), one_line(e.what()));
  }
}

}  // namespace portcullis::recorder
