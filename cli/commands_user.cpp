// `portcullis user add|list|totp|disable|enable|key add|key remove|mfa-reset`.
#include <iostream>

#include "access/access.h"
#include "access/totp.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/ssh_keys.h"
#include "vault/vault.h"

namespace portcullis::cli {
namespace {

struct AddOptions {
  std::string name;
  std::string key_file;
  std::vector<std::string> roles;
};

void add_user(Context& context, const AddOptions& options) {
  const std::vector<std::string> keys = read_public_keys(options.key_file);
  context.transact([&](pqxx::work& tx) {
    const access::User user =
        access::add_user(tx, context.actor(), options.name, keys, options.roles);
    std::cout << "added user " << user.name << " with " << user.public_keys.size()
              << (user.public_keys.size() == 1 ? " key" : " keys") << '\n';
  });
}

std::vector<std::string> fingerprints(const access::User& user) {
  std::vector<std::string> result;
  for (const std::string& key : user.public_keys) {
    result.push_back(access::public_key_fingerprint(key));
  }
  return result;
}

nlohmann::json user_json(const access::User& user) {
  nlohmann::json keys = nlohmann::json::array();
  for (const std::string& key : user.public_keys) {
    keys.push_back({{"public_key", key}, {"fingerprint", access::public_key_fingerprint(key)}});
  }
  return {{"id", user.id},
          {"name", user.name},
          {"roles", user.roles},
          {"disabled", user.disabled},
          {"keys", keys}};
}

void list_users(Context& context, bool json) {
  std::vector<access::User> users;
  context.transact([&](pqxx::work& tx) { users = access::list_users(tx); });
  if (json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::User& user : users) array.push_back(user_json(user));
    return print_json(std::cout, array);
  }
  Table table({"NAME", "ROLES", "STATUS", "KEYS"});
  for (const access::User& user : users) {
    table.add({user.name, user.roles.empty() ? "-" : join(user.roles, ","),
               user.disabled ? "disabled" : "enabled", join(fingerprints(user), ",")});
  }
  table.print(std::cout);
}

// The secret is shown once, here, and otherwise exists only sealed in the database.
void enroll_totp(Context& context, const std::string& name) {
  disable_core_dumps();  // the vault key and the new TOTP secret: never in a core file
  const vault::Vault vault = vault::Vault::open(context.config().vault.key_file);
  const std::vector<std::uint8_t> secret = access::totp::generate_secret();
  const std::string text(secret.begin(), secret.end());
  context.transact([&](pqxx::work& tx) {
    if (!access::find_user(tx, name)) throw UsageError("no user named " + name);
    access::set_totp_secret(tx, context.actor(), name,
                            vault.seal(text, access::totp_context(name)));
  });
  std::cout << access::totp::otpauth_uri(context.config().access.totp_issuer, name, secret) << '\n';
  std::cerr << "enrolled TOTP for " << name << "; secret " << access::totp::base32_encode(secret)
            << "\nGive the URI (or the secret) to " << name
            << " through a private channel: it is not shown again. Any earlier TOTP secret of "
            << name << " no longer works.\n";
}

struct DisableOptions {
  std::string name;
  std::string reason;
};

void disable_user(Context& context, const DisableOptions& options) {
  access::UserDisabled result;
  context.transact([&](pqxx::work& tx) {
    result = access::disable_user(tx, context.actor(), options.name, options.reason);
  });
  std::cout << "disabled user " << options.name << "; revoked " << result.grants_revoked.size()
            << " active grant(s) (their sessions end now) and denied "
            << result.requests_denied.size() << " pending request(s)\n";
}

void enable_user(Context& context, const std::string& name) {
  context.transact([&](pqxx::work& tx) { access::enable_user(tx, context.actor(), name); });
  std::cout << "enabled user " << name << "; grants revoked when it was disabled stay revoked\n";
}

struct KeyOptions {
  std::string name;
  std::string key;  // add: a file of keys; remove: a fingerprint or a file with the key
};

void add_keys(Context& context, const KeyOptions& options) {
  const std::vector<std::string> keys = read_public_keys(options.key);
  context.transact([&](pqxx::work& tx) {
    for (const std::string& key : keys) {
      std::cout << "added key " << access::add_user_key(tx, context.actor(), options.name, key)
                << " to " << options.name << '\n';
    }
  });
}

void remove_key(Context& context, const KeyOptions& options) {
  const std::string key =
      options.key.starts_with("SHA256:") ? options.key : read_public_keys(options.key).at(0);
  context.transact([&](pqxx::work& tx) {
    std::cout << "removed key " << access::remove_user_key(tx, context.actor(), options.name, key)
              << " from " << options.name << '\n';
  });
}

void reset_mfa(Context& context, const std::string& name) {
  int cleared = 0;
  context.transact(
      [&](pqxx::work& tx) { cleared = access::reset_mfa_failures(tx, context.actor(), name); });
  std::cout << "cleared " << cleared << " recent TOTP failure(s) of " << name
            << "; any lockout is over\n";
}

}  // namespace

void add_user_commands(CLI::App& app, Action& chosen) {
  CLI::App* user =
      app.add_subcommand("user", "Manage the people who may log in")->require_subcommand(1);

  auto add = std::make_shared<AddOptions>();
  CLI::App* add_cmd = user->add_subcommand("add", "Add a user with their SSH public key(s)");
  add_cmd->add_option("NAME", add->name, "User name (letters, digits, . _ @ -)")->required();
  add_cmd->add_option("--key", add->key_file, "File with the user's OpenSSH public key(s)")
      ->required();
  add_cmd->add_option("--role", add->roles, "Role of the user (repeatable)")
      ->allow_extra_args(false);
  add_cmd->callback([&chosen, add] { chosen = [add](Context& c) { add_user(c, *add); }; });

  auto json = std::make_shared<bool>(false);
  CLI::App* list_cmd = user->add_subcommand("list", "List users");
  list_cmd->add_flag("--json", *json, "Print one JSON array");
  list_cmd->callback([&chosen, json] { chosen = [json](Context& c) { list_users(c, *json); }; });

  auto totp_name = std::make_shared<std::string>();
  CLI::App* totp_cmd = user->add_subcommand(
      "totp", "Enroll NAME for TOTP (RFC 6238); prints the otpauth:// URI and secret once");
  totp_cmd->add_option("NAME", *totp_name, "User name")->required();
  totp_cmd->callback(
      [&chosen, totp_name] { chosen = [totp_name](Context& c) { enroll_totp(c, *totp_name); }; });

  auto disable = std::make_shared<DisableOptions>();
  CLI::App* disable_cmd = user->add_subcommand(
      "disable", "Refuse NAME's logins, end their sessions, revoke grants, deny requests");
  disable_cmd->add_option("NAME", disable->name, "User name")->required();
  disable_cmd->add_option("--reason", disable->reason, "Why (audited, not shown to the user)")
      ->required();
  disable_cmd->callback(
      [&chosen, disable] { chosen = [disable](Context& c) { disable_user(c, *disable); }; });

  auto enable_name = std::make_shared<std::string>();
  CLI::App* enable_cmd = user->add_subcommand("enable", "Let a disabled user log in again");
  enable_cmd->add_option("NAME", *enable_name, "User name")->required();
  enable_cmd->callback([&chosen, enable_name] {
    chosen = [enable_name](Context& c) { enable_user(c, *enable_name); };
  });

  CLI::App* key_cmd =
      user->add_subcommand("key", "Add or remove a user's SSH public keys")->require_subcommand(1);
  auto key_add = std::make_shared<KeyOptions>();
  CLI::App* key_add_cmd = key_cmd->add_subcommand("add", "Add the key(s) in FILE to NAME");
  key_add_cmd->add_option("NAME", key_add->name, "User name")->required();
  key_add_cmd->add_option("FILE", key_add->key, "File with OpenSSH public key(s)")->required();
  key_add_cmd->callback(
      [&chosen, key_add] { chosen = [key_add](Context& c) { add_keys(c, *key_add); }; });
  auto key_remove = std::make_shared<KeyOptions>();
  CLI::App* key_remove_cmd = key_cmd->add_subcommand(
      "remove", "Remove a key of NAME, by fingerprint (SHA256:...) or by its public key file");
  key_remove_cmd->add_option("NAME", key_remove->name, "User name")->required();
  key_remove_cmd->add_option("KEY", key_remove->key, "SHA256:... or a public key file")->required();
  key_remove_cmd->callback(
      [&chosen, key_remove] { chosen = [key_remove](Context& c) { remove_key(c, *key_remove); }; });

  auto reset_name = std::make_shared<std::string>();
  CLI::App* reset_cmd =
      user->add_subcommand("mfa-reset", "Clear NAME's recent TOTP failures and any lockout");
  reset_cmd->add_option("NAME", *reset_name, "User name")->required();
  reset_cmd->callback(
      [&chosen, reset_name] { chosen = [reset_name](Context& c) { reset_mfa(c, *reset_name); }; });
}

}  // namespace portcullis::cli
