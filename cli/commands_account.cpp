// `portcullis account add|list`: the credentials the bastion logs in to targets with.
// Secrets are read from files (never argv), sealed with the vault key, and never printed.
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/ssh_keys.h"
#include "vault/vault.h"

namespace portcullis::cli {
namespace {

struct AddOptions {
  std::string target;
  std::string login;
  std::string key_file;
  std::string password_file;
  bool certificate = false;
};

// The first line of the password file, without its line ending.
vault::Secret read_password(const std::string& path) {
  vault::Secret contents(read_file(path, "password file"));
  const std::string& text = contents.reveal();
  const std::size_t length = text.find_first_of("\r\n");
  if (length == 0 || text.empty()) {
    throw UsageError("password file " + path + " starts with an empty line");
  }
  return vault::Secret(text.substr(0, length));
}

vault::Secret read_private_key(const std::string& path) {
  vault::Secret contents(read_file(path, "key file"));
  check_private_key(contents.reveal(), path);
  return contents;
}

// No secret: each session logs in with a certificate the bastion's CA signs for it.
void add_certificate_account(Context& context, const AddOptions& options) {
  bool has_ca = false;
  context.transact([&](pqxx::work& tx) {
    access::add_account(tx, context.actor(), options.target, options.login,
                        access::CredentialKind::certificate, {});
    has_ca = access::signing_ssh_ca(tx).has_value();
  });
  std::cout << "added account " << options.login << " on " << options.target
            << " (certificate: no stored secret)\n";
  std::cout << (has_ca ? "the target's sshd must trust the bastion's CA: put the output of "
                         "`portcullis ca pubkey` in its TrustedUserCAKeys file\n"
                       : "warning: the bastion has no CA key yet; run `portcullis init`\n");
}

void add_account(Context& context, const AddOptions& options) {
  if (options.certificate) return add_certificate_account(context, options);
  // The credential and the vault key are in memory from here on: no core file may hold them.
  disable_core_dumps();
  const bool is_key = !options.key_file.empty();
  const vault::Secret secret =
      is_key ? read_private_key(options.key_file) : read_password(options.password_file);
  const vault::Vault vault = vault::Vault::open(context.config().vault.key_file);
  const std::vector<std::uint8_t> sealed =
      vault.seal(secret.reveal(), access::account_context(options.target, options.login));
  const auto kind = is_key ? access::CredentialKind::key : access::CredentialKind::password;
  context.transact([&](pqxx::work& tx) {
    access::add_account(tx, context.actor(), options.target, options.login, kind, sealed);
  });
  std::cout << "added account " << options.login << " on " << options.target << " ("
            << access::to_string(kind) << ", sealed in the vault)\n";
}

void list_accounts(Context& context, bool json) {
  std::vector<access::Account> accounts;
  context.transact([&](pqxx::work& tx) { accounts = access::list_accounts(tx); });
  if (json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::Account& a : accounts) {
      array.push_back({{"id", a.id},
                       {"target", a.target_name},
                       {"login", a.login},
                       {"kind", access::to_string(a.kind)}});
    }
    return print_json(std::cout, array);
  }
  Table table({"TARGET", "LOGIN", "KIND"});
  for (const access::Account& a : accounts) {
    table.add({a.target_name, a.login, access::to_string(a.kind)});
  }
  table.print(std::cout);
}

}  // namespace

void add_account_commands(CLI::App& app, Action& chosen) {
  CLI::App* account =
      app.add_subcommand("account", "Manage the vaulted credentials used to log in to targets")
          ->require_subcommand(1);

  auto add = std::make_shared<AddOptions>();
  CLI::App* add_cmd = account->add_subcommand(
      "add", "Vault a credential for TARGET and LOGIN, or log in to it with certificates");
  add_cmd->add_option("TARGET", add->target, "Target name")->required();
  add_cmd->add_option("LOGIN", add->login, "Login name on the target")->required();
  CLI::Option_group* secret = add_cmd->add_option_group("credential", "The secret to vault");
  secret->add_option("--key-file", add->key_file, "Unencrypted private key file (OpenSSH or PEM)");
  secret->add_option("--password-file", add->password_file,
                     "File whose first line is the password");
  secret->add_flag("--certificate", add->certificate,
                   "Store no secret: each session logs in with a fresh key and a certificate "
                   "from the bastion's CA (the target trusts `portcullis ca pubkey`)");
  secret->require_option(1);
  add_cmd->callback([&chosen, add] { chosen = [add](Context& c) { add_account(c, *add); }; });

  auto json = std::make_shared<bool>(false);
  CLI::App* list_cmd = account->add_subcommand("list", "List vaulted accounts (never secrets)");
  list_cmd->add_flag("--json", *json, "Print one JSON array");
  list_cmd->callback([&chosen, json] { chosen = [json](Context& c) { list_accounts(c, *json); }; });
}

}  // namespace portcullis::cli
