// `portcullis policy check|explain`.
#include <iostream>

#include "access/access.h"
#include "access/policy.h"
#include "cli/cli.h"
#include "settings/running.h"

namespace portcullis::cli {
namespace {

struct ExplainOptions {
  std::string user;
  std::string target;  // TARGET or TARGET:LOGIN
};

// The daemon's own checks (settings/running.h) on the file as already loaded: what passes here
// is what portcullisd would start or reload with. Compiling the policy checks patterns, hours and
// time zones, each reported as FILE:LINE.
void check_policy(Context& context) {
  const RunningConfig running(context.config());
  const access::Policy& policy = running.policy;
  const Config& config = running.config;
  std::cout << config.file.string() << ": policy OK, " << policy.rules().size()
            << (policy.rules().size() == 1 ? " rule" : " rules")
            << " (first match wins; no match = deny)\n";
  for (const access::CompiledRule& rule : policy.rules()) {
    std::cout << "  line " << rule.config.line << ": " << access::describe(rule) << '\n';
  }
  if (policy.rules().empty()) {
    std::cout << "  no [[policy]] rules: every request will be denied\n";
  }
}

void explain_policy(Context& context, const ExplainOptions& options) {
  const access::Policy policy(context.config().policies, context.config().file);
  const auto colon = options.target.find(':');
  const std::string target = options.target.substr(0, colon);
  const std::string login = colon == std::string::npos ? "" : options.target.substr(colon + 1);
  std::optional<access::User> user;
  context.transact([&](pqxx::work& tx) { user = access::find_user(tx, options.user); });
  if (!user) throw UsageError("no user named " + options.user);
  std::cout << policy.explain(*user, target, login, access::Clock::now());
}

}  // namespace

void add_policy_commands(CLI::App& app, Action& chosen, std::string& config_option) {
  CLI::App* policy =
      app.add_subcommand("policy", "Check and explain the access policy")->require_subcommand(1);

  auto file = std::make_shared<std::string>();
  CLI::App* check_cmd = policy->add_subcommand(
      "check",
      "Validate the [[policy]] rules of FILE (default: the config file); errors name "
      "FILE:LINE");
  check_cmd->add_option("FILE", *file, "Config file holding the policy");
  check_cmd->callback([&chosen, &config_option, file] {
    if (!file->empty()) config_option = *file;
    chosen = [](Context& c) { check_policy(c); };
  });

  auto explain = std::make_shared<ExplainOptions>();
  CLI::App* explain_cmd = policy->add_subcommand(
      "explain", "Say which rule applies to USER asking for TARGET, and why");
  explain_cmd->add_option("USER", explain->user, "User name")->required();
  explain_cmd->add_option("TARGET:LOGIN", explain->target, "Target, optionally with the login")
      ->required();
  explain_cmd->callback(
      [&chosen, explain] { chosen = [explain](Context& c) { explain_policy(c, *explain); }; });
}

}  // namespace portcullis::cli
