#include <nlohmann/json.hpp>

#include "access/queries.h"

namespace portcullis::access {

Target add_target(pqxx::work& tx, const std::string& actor, const std::string& name,
                  const std::string& host, std::uint16_t port, const HostTrust& trust) {
  detail::check_name("target name", name);
  if (host.empty()) throw AccessError("target " + name + " needs a host");
  if (port == 0) throw AccessError("target " + name + " needs a port between 1 and 65535");
  const detail::ParsedPublicKey key = detail::parse_public_key(
      trust.public_key,
      (trust.is_ca ? "the host CA of target " : "the host key of target ") + name);
  if (trust.is_ca && !key.normalized.starts_with("ssh-ed25519 ")) {
    throw AccessError("the host CA of target " + name +
                      " is not an Ed25519 key; Portcullis checks host certificates signed by "
                      "Ed25519 CAs only (ssh-keygen -t ed25519 makes one)");
  }
  const std::optional<std::string> pinned =
      trust.is_ca ? std::nullopt : std::optional<std::string>(key.normalized);
  const std::optional<std::string> ca =
      trust.is_ca ? std::optional<std::string>(key.normalized) : std::nullopt;
  pqxx::result inserted = tx.exec_params(
      "INSERT INTO targets (name, host, port, host_key, host_ca) VALUES ($1, $2, $3, $4, $5)"
      " ON CONFLICT (name) DO NOTHING RETURNING id",
      name, host, static_cast<int>(port), pinned, ca);
  if (inserted.empty()) throw AccessError("target " + name + " already exists");
  audit(tx, actor, "target.add", "target:" + name,
        nlohmann::json{
            {"host", host},
            {"port", port},
            {trust.is_ca ? "host_ca_fingerprint" : "host_key_fingerprint", key.fingerprint}}
            .dump());
  return *find_target(tx, name);
}

std::optional<Target> find_target(pqxx::work& tx, const std::string& name) {
  pqxx::result rows = tx.exec_params(detail::target_query() + "WHERE t.name = $1", name);
  if (rows.empty()) return std::nullopt;
  return detail::target_from_row(rows[0]);
}

std::vector<Target> list_targets(pqxx::work& tx) {
  std::vector<Target> targets;
  for (const pqxx::row& row : tx.exec(detail::target_query() + "ORDER BY t.name")) {
    targets.push_back(detail::target_from_row(row));
  }
  return targets;
}

Account add_account(pqxx::work& tx, const std::string& actor, const std::string& target,
                    const std::string& login, CredentialKind kind,
                    const std::vector<std::uint8_t>& sealed_secret) {
  detail::check_name("login", login);
  std::optional<Target> found = find_target(tx, target);
  if (!found) {
    throw AccessError("no target named " + target + "; add it first with: portcullis target add " +
                      target + " --host ...");
  }
  if ((kind == CredentialKind::certificate) != sealed_secret.empty()) {
    throw std::logic_error("a certificate account stores no secret, every other account one");
  }
  // libpqxx 6 cannot pass an optional bytea: a certificate account's NULL is in the SQL.
  const pqxx::binarystring sealed(sealed_secret.data(), sealed_secret.size());
  pqxx::result inserted = sealed_secret.empty()
                              ? tx.exec_params(
                                    "INSERT INTO accounts (target_id, login, kind, sealed_secret)"
                                    " VALUES ($1, $2, $3, NULL)"
                                    " ON CONFLICT (target_id, login) DO NOTHING RETURNING id",
                                    found->id, login, to_string(kind))
                              : tx.exec_params(
                                    "INSERT INTO accounts (target_id, login, kind, sealed_secret)"
                                    " VALUES ($1, $2, $3, $4)"
                                    " ON CONFLICT (target_id, login) DO NOTHING RETURNING id",
                                    found->id, login, to_string(kind), sealed);
  if (inserted.empty()) {
    throw AccessError("target " + target + " already has an account " + login);
  }
  // The sealed secret itself stays out of the audit log.
  audit(tx, actor, "account.add", "account:" + target + ":" + login,
        nlohmann::json{{"kind", to_string(kind)}}.dump());
  return *find_account(tx, target, login);
}

std::optional<Account> find_account(pqxx::work& tx, const std::string& target,
                                    const std::string& login) {
  pqxx::result rows =
      tx.exec_params(detail::account_query() + "WHERE t.name = $1 AND a.login = $2", target, login);
  if (rows.empty()) return std::nullopt;
  return detail::account_from_row(rows[0]);
}

std::vector<Account> list_accounts(pqxx::work& tx) {
  std::vector<Account> accounts;
  for (const pqxx::row& row : tx.exec(detail::account_query() + "ORDER BY t.name, a.login")) {
    accounts.push_back(detail::account_from_row(row));
  }
  return accounts;
}

}  // namespace portcullis::access
