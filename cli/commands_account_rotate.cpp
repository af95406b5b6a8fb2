// `portcullis account rotate TARGET LOGIN`: rotates a vaulted credential now, from this
// process, exactly as portcullisd does after use (rotation/rotation.h), audited the same way.
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "rotation/rotation.h"
#include "vault/vault.h"

namespace portcullis::cli {
namespace {

struct RotateOptions {
  std::string target;
  std::string login;
};

void rotate_account(Context& context, const RotateOptions& options) {
  // The old and new credentials pass through this process: no core file may hold them.
  disable_core_dumps();
  const vault::Vault vault = vault::Vault::open(context.config().vault.key_file);
  const rotation::Rotator rotator(context.config().rotation, vault, context.actor(),
                                  context.actor());
  store::Database database(context.config().database.url);
  // An account that cannot be claimed throws access::AccessError, shown as it is.
  const rotation::Report report = rotator.rotate(database, options.target, options.login);
  if (!report.rotated) {
    throw std::runtime_error("rotation of " + options.login + " on " + options.target +
                             " failed (attempt " + std::to_string(report.failures) +
                             "); the vault keeps the old " + access::to_string(report.kind) +
                             ", which still works: " + report.summary);
  }
  std::cout << "rotated " << options.login << " on " << options.target << ": " << report.summary
            << '\n';
}

}  // namespace

void add_account_rotate_command(CLI::App& account, Action& chosen) {
  auto options = std::make_shared<RotateOptions>();
  CLI::App* rotate = account.add_subcommand(
      "rotate", "Replace the vaulted key or password of TARGET's LOGIN on the target now");
  rotate->add_option("TARGET", options->target, "Target name")->required();
  rotate->add_option("LOGIN", options->login, "Login name on the target")->required();
  rotate->callback(
      [&chosen, options] { chosen = [options](Context& c) { rotate_account(c, *options); }; });
}

}  // namespace portcullis::cli
