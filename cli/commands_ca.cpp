// `portcullis ca pubkey|rotate|retire`: the bastion's SSH user certificate authority. Targets
// trust what `ca pubkey` prints (sshd's TrustedUserCAKeys); sessions on certificate accounts
// log in with certificates the newest key signs. The secret keys are sealed in the vault and
// kept in the database, so every node signs with the same CA; they are never printed.
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "sshkey/certificate.h"
#include "vault/vault.h"

namespace portcullis::cli {
namespace {

access::SshCa create_ssh_ca(Context& context, pqxx::work& tx) {
  const sshkey::CertificateAuthority ca = sshkey::CertificateAuthority::generate();
  const std::string public_key = ca.public_key_line();
  const vault::Vault vault = vault::Vault::open(context.config().vault.key_file);
  const std::vector<std::uint8_t> sealed =
      vault.seal(ca.secret(), access::ssh_ca_context(access::public_key_fingerprint(public_key)));
  return access::add_ssh_ca(tx, context.actor(), public_key, sealed);
}

std::string comment(const access::SshCa& ca) { return "portcullis-ca-" + std::to_string(ca.id); }

void print_public_keys(Context& context, bool json, bool all) {
  std::vector<access::SshCa> cas;
  std::optional<access::SshCa> signing;
  context.transact([&](pqxx::work& tx) {
    cas = access::list_ssh_cas(tx, all);
    signing = access::signing_ssh_ca(tx);
  });
  if (cas.empty() && !json) {
    throw UsageError("the bastion has no CA key yet; run `portcullis init` to make one");
  }
  if (!json) {
    // Only the key lines, so the output can be the target's TrustedUserCAKeys file.
    for (const access::SshCa& ca : cas) std::cout << ca.public_key << ' ' << comment(ca) << '\n';
    return;
  }
  nlohmann::json array = nlohmann::json::array();
  for (const access::SshCa& ca : cas) {
    array.push_back({{"id", ca.id},
                     {"public_key", ca.public_key + " " + comment(ca)},
                     {"fingerprint", ca.fingerprint},
                     {"created_at", format_rfc3339(ca.created_at)},
                     {"retired_at", ca.retired_at ? nlohmann::json(format_rfc3339(*ca.retired_at))
                                                  : nlohmann::json()},
                     {"signing", signing && signing->id == ca.id}});
  }
  print_json(std::cout, array);
}

void rotate(Context& context) {
  disable_core_dumps();  // the new secret key is in memory
  context.transact([&](pqxx::work& tx) {
    const std::optional<access::SshCa> previous = access::signing_ssh_ca(tx);
    const access::SshCa added = create_ssh_ca(context, tx);
    std::cout << "created CA key " << added.id << " (" << added.fingerprint
              << "); it signs every new session's certificate from now on\n";
    if (previous) {
      std::cout << "CA key " << previous->id << " (" << previous->fingerprint
                << ") stays in `portcullis ca pubkey` until every target trusts the new key; "
                   "then run: portcullis ca retire "
                << previous->id << '\n';
    }
  });
}

void retire(Context& context, std::int64_t id) {
  context.transact([&](pqxx::work& tx) {
    const access::SshCa retired = access::retire_ssh_ca(tx, context.actor(), id);
    std::cout << "retired CA key " << retired.id << " (" << retired.fingerprint
              << "); `portcullis ca pubkey` no longer lists it: update the targets' "
                 "TrustedUserCAKeys\n";
  });
}

}  // namespace

void create_first_ssh_ca(Context& context) {
  context.transact([&](pqxx::work& tx) {
    if (access::signing_ssh_ca(tx)) return;
    const access::SshCa ca = create_ssh_ca(context, tx);
    std::cout << "created SSH certificate authority key " << ca.id << " (" << ca.fingerprint
              << ", sealed in the database)\n";
  });
}

void add_ca_commands(CLI::App& app, Action& chosen) {
  CLI::App* ca = app.add_subcommand("ca", "The bastion's SSH user certificate authority")
                     ->require_subcommand(1);

  auto json = std::make_shared<bool>(false);
  auto all = std::make_shared<bool>(false);
  CLI::App* pubkey = ca->add_subcommand(
      "pubkey", "Print the CA public keys targets trust (sshd TrustedUserCAKeys format)");
  pubkey->add_flag("--json", *json, "Print one JSON array");
  pubkey->add_flag("--all", *all, "Include retired keys");
  pubkey->callback([&chosen, json, all] {
    chosen = [json, all](Context& c) { print_public_keys(c, *json, *all); };
  });

  ca->add_subcommand("rotate", "Add a new CA key and sign with it from now on")
      ->callback([&chosen] { chosen = rotate; });

  auto id = std::make_shared<std::int64_t>(0);
  CLI::App* retire_cmd =
      ca->add_subcommand("retire", "Stop listing an old CA key (after `ca rotate`)");
  retire_cmd->add_option("KEYID", *id, "The key's id, as `ca pubkey` prints it (portcullis-ca-ID)")
      ->required();
  retire_cmd->callback([&chosen, id] { chosen = [id](Context& c) { retire(c, *id); }; });
}

}  // namespace portcullis::cli
