// `portcullis account add|list`: the credentials the bastion logs in to targets with.
// Secrets are read from files (never argv), sealed with the vault key, and never printed.
// `account rotate` is in commands_account_rotate.cpp.
#include <iostream>

#include "access/access.h"
#include "access/rotation.h"
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
  std::string rotate = "never";
  std::string authorized_keys = access::RotationSettings{}.authorized_keys;
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
  if (options.rotate != "never") {
    throw UsageError(
        "--rotate is for key and password accounts: a certificate account keeps no "
        "secret to rotate");
  }
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
  const access::RotationSettings rotation{*access::parse_rotate_mode(options.rotate),
                                          options.authorized_keys};
  context.transact([&](pqxx::work& tx) {
    access::add_account(tx, context.actor(), options.target, options.login, kind, sealed);
    access::set_account_rotation(tx, context.actor(), options.target, options.login, rotation);
  });
  std::cout << "added account " << options.login << " on " << options.target << " ("
            << access::to_string(kind) << ", sealed in the vault, rotated "
            << (rotation.mode == access::RotateMode::after_use ? "after each use" : "never")
            << ")\n";
}

// How long the secret has been in the vault, by this machine's clock (display only).
std::string age_of(const access::AccountStatus& status) {
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(
      std::chrono::system_clock::now() - status.secret_set_at);
  return format_duration(std::max(age, std::chrono::seconds(0)));
}

void list_accounts(Context& context, bool json) {
  std::vector<access::AccountStatus> statuses;
  context.transact([&](pqxx::work& tx) { statuses = access::list_account_statuses(tx); });
  if (json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::AccountStatus& s : statuses) {
      const access::Account& a = s.account;
      array.push_back({{"id", a.id},
                       {"target", a.target_name},
                       {"login", a.login},
                       {"kind", access::to_string(a.kind)},
                       {"secret_set_at", time_json(s.secret_set_at)},
                       {"last_rotated_at", time_json(s.last_rotated_at)},
                       {"rotate", access::to_string(s.rotation.mode)},
                       {"authorized_keys", s.rotation.authorized_keys},
                       {"state", access::to_string(s.state)},
                       {"rotation_failures", s.failures},
                       {"rotation_error", s.last_error.empty() ? nlohmann::json(nullptr)
                                                               : nlohmann::json(s.last_error)},
                       {"next_rotation_at", time_json(s.next_attempt_at)}});
    }
    return print_json(std::cout, array);
  }
  Table table({"TARGET", "LOGIN", "KIND", "AGE", "LAST ROTATED", "ROTATE", "STATE"});
  for (const access::AccountStatus& s : statuses) {
    table.add({s.account.target_name, s.account.login, access::to_string(s.account.kind), age_of(s),
               time_cell(s.last_rotated_at), access::to_string(s.rotation.mode),
               access::to_string(s.state)});
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
  add_cmd
      ->add_option("--rotate", add->rotate,
                   "never (default) or after-use: rotate it once no grant or session uses it")
      ->check(CLI::IsMember({"never", "after-use"}));
  add_cmd->add_option("--authorized-keys", add->authorized_keys,
                      "The file a key account's key is in on the target, relative to its home "
                      "(default .ssh/authorized_keys); rotation edits it");
  add_cmd->callback([&chosen, add] { chosen = [add](Context& c) { add_account(c, *add); }; });

  auto json = std::make_shared<bool>(false);
  CLI::App* list_cmd = account->add_subcommand("list", "List vaulted accounts (never secrets)");
  list_cmd->add_flag("--json", *json, "Print one JSON array");
  list_cmd->callback([&chosen, json] { chosen = [json](Context& c) { list_accounts(c, *json); }; });

  add_account_rotate_command(*account, chosen);
}

}  // namespace portcullis::cli
