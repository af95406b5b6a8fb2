// `portcullis`: the administrator's and auditor's command line. It reads the same config
// file as portcullisd and works directly on the database.
#include <cctype>
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "common/version.h"
#include "settings/settings.h"
#include "vault/vault.h"

namespace portcullis::cli {
namespace {

const char* const kFooter =
    "Exit status: 0 success; 1 usage error or refused request; 2 config or key file error;\n"
    "3 database unreachable; 4 verification failed (a recording or the audit log).";

bool config_optional = false;

int fail(ExitStatus status, const std::string& message) {
  std::cerr << "portcullis: error: " << inert_line(one_line(message)) << '\n';
  return status;
}

int report_parse_error(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);
  std::string message = e.what();
  // CLI11 capitalizes its sentences; ours are lower-case. Leave names such as "ID" alone.
  if (message.size() > 1 && !std::isupper(static_cast<unsigned char>(message[1]))) {
    message[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(message[0])));
  }
  return fail(kUsageError, message + " (run with --help for usage)");
}

Config load_optional_config(const std::optional<std::string>& given) {
  try {
    return load_config(resolve_config_path(given));
  } catch (const ConfigError&) {
    if (!config_optional) throw;
    return Config{};
  }
}

int run(const std::string& config_option, const Action& action) {
  try {
    std::optional<std::string> given;
    if (!config_option.empty()) given = config_option;
    Context context(load_optional_config(given));
    action(context);
    return kSuccess;
  } catch (const VerifyFailed& e) {
    return fail(kVerifyFailed, e.what());
  } catch (const ConfigError& e) {
    return fail(kConfigError, e.what());
  } catch (const vault::VaultError& e) {
    return fail(kConfigError, e.what());
  } catch (const store::DatabaseUnavailable& e) {
    return fail(kDatabaseDown, e.what());
  } catch (const pqxx::broken_connection& e) {
    return fail(kDatabaseDown, std::string("lost the connection to the database: ") + e.what());
  } catch (const pqxx::sql_error& e) {
    return fail(kUsageError, std::string("the database refused the request: ") + e.what());
  } catch (const std::exception& e) {
    // UsageError, AccessError and the rest: messages already fit for the user.
    return fail(kUsageError, e.what());
  }
}

}  // namespace

void allow_missing_config() { config_optional = true; }

}  // namespace portcullis::cli

int main(int argc, char** argv) {
  using namespace portcullis::cli;
  CLI::App app("Administer a Portcullis just-in-time SSH bastion.", "portcullis");
  app.footer(kFooter);
  app.set_version_flag("--version", "portcullis " + std::string(portcullis::version()));
  app.require_subcommand(1);
  // Lets -c come after the command too: `portcullis user list -c FILE`.
  app.fallthrough();
  std::string config_option;
  app.add_option("-c,--config", config_option,
                 "Config file (default: $PORTCULLIS_CONFIG, else /etc/portcullis/portcullis.toml)");

  Action chosen;
  add_setup_commands(app, chosen);
  add_user_commands(app, chosen);
  add_target_commands(app, chosen);
  add_account_commands(app, chosen);
  add_ca_commands(app, chosen);
  add_grant_commands(app, chosen);
  add_session_commands(app, chosen);
  add_policy_commands(app, chosen, config_option);
  add_review_commands(app, chosen);
  add_audit_commands(app, chosen);
  add_recording_commands(app, chosen);
  add_player_commands(app, chosen);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return report_parse_error(app, e);
  }
  return run(config_option, chosen);
}
