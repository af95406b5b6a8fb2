// Shared by the `portcullis` command files: the context a command runs in, how commands
// register, and the errors that pick the exit status.
#pragma once

#include <CLI/CLI.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <pqxx/pqxx>
#include <stdexcept>
#include <string>

#include "common/common.h"
#include "settings/settings.h"
#include "store/store.h"

namespace portcullis::cli {

// Exit statuses, also listed in the --help footer.
enum ExitStatus : int {
  kSuccess = 0,
  kUsageError = 1,    // bad arguments, or a request the database refused (unknown user...)
  kConfigError = 2,   // the config file or a key file it names
  kDatabaseDown = 3,  // PostgreSQL unreachable
  kVerifyFailed = 4,  // a recording or the audit log failed verification
};

// A mistake in what the user asked for; the message says what to do instead.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A recording or the audit log failed verification; the message names the first bad part.
class VerifyFailed : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What every command gets: the loaded config, a database connection made on first use,
// and the name its changes are audited under.
class Context {
 public:
  explicit Context(Config config);

  const Config& config() const { return config_; }
  // "admin:<os user>", the audit actor for everything done through the CLI.
  const std::string& actor() const { return actor_; }
  pqxx::connection& connection();
  // Runs `work` in one transaction and commits it (once more on a fresh connection if the
  // first was found broken: store::Database::transact).
  void transact(const std::function<void(pqxx::work&)>& work);

 private:
  Config config_;
  std::string actor_;
  store::Database database_;
};

using Action = std::function<void(Context&)>;

// Each command group adds its subcommands to `app`; the one the user picks stores what
// it will do in `chosen`, which main runs once the config is loaded.
void add_setup_commands(CLI::App& app, Action& chosen);
void add_user_commands(CLI::App& app, Action& chosen);
void add_target_commands(CLI::App& app, Action& chosen);
void add_account_commands(CLI::App& app, Action& chosen);
// `account rotate`, under the `account` command.
void add_account_rotate_command(CLI::App& account, Action& chosen);
void add_ca_commands(CLI::App& app, Action& chosen);
// Creates the first SSH CA key unless the database has one (`portcullis init`).
void create_first_ssh_ca(Context& context);
void add_grant_commands(CLI::App& app, Action& chosen);
void add_session_commands(CLI::App& app, Action& chosen);
// `session watch`, under `session`.
void add_session_watch_command(CLI::App& session, Action& chosen);
void add_review_commands(CLI::App& app, Action& chosen);
void add_audit_commands(CLI::App& app, Action& chosen);
// `policy check FILE` checks FILE instead of the config file, so it may set `config_option`.
void add_policy_commands(CLI::App& app, Action& chosen, std::string& config_option);
void add_recording_commands(CLI::App& app, Action& chosen);
void add_player_commands(CLI::App& app, Action& chosen);

// Called by a command that can run without a config file (verify FILE --pubkey KEY): main then
// runs it with default settings when the config cannot be loaded.
void allow_missing_config();

// --since as every listing takes it: an RFC 3339 time ("2026-11-25T08:00:00Z", "...+02:00"), or
// a duration meaning that long ago ("2h", "7d"). Throws UsageError for anything else.
std::chrono::system_clock::time_point parse_since(const std::string& text);

// Reads a whole (small) file; throws UsageError naming `what` when it cannot.
std::string read_file(const std::string& path, const std::string& what);

}  // namespace portcullis::cli
