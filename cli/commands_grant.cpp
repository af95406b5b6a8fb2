// `portcullis grant add|list|revoke`.
#include <iostream>

#include "access/access.h"
#include "access/json.h"
#include "cli/cli.h"
#include "cli/output.h"

namespace portcullis::cli {
namespace {

struct AddOptions {
  std::string user;
  std::string account;  // TARGET:LOGIN
  std::string duration;
  std::string reason;
  std::string ticket;
};

struct ListOptions {
  bool active = false;
  bool json = false;
};

struct RevokeOptions {
  std::int64_t id = 0;
  std::string reason;
};

std::pair<std::string, std::string> split_account(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    throw UsageError("'" + text + "' is not TARGET:LOGIN (for example db01:postgres)");
  }
  return {text.substr(0, colon), text.substr(colon + 1)};
}

std::chrono::seconds duration_of(const std::string& text) {
  try {
    return parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--for: ") + e.what());
  }
}

void add_grant(Context& context, const AddOptions& options) {
  const auto [target, login] = split_account(options.account);
  const std::chrono::seconds duration = duration_of(options.duration);
  access::Grant grant;
  context.transact([&](pqxx::work& tx) {
    grant = access::add_grant(tx, context.actor(), options.user, target, login, duration,
                              options.reason, options.ticket);
  });
  // The id alone on stdout, so scripts can capture it; the summary is for people.
  std::cout << grant.id << '\n';
  std::cerr << "granted " << grant.user << " " << grant.target << ":" << grant.login << " until "
            << format_rfc3339(grant.expires_at) << '\n';
}

// A pending or denied request has no window yet.
std::optional<TimePoint> window_start(const access::Grant& g) {
  return g.has_window() ? std::optional<TimePoint>(g.starts_at) : std::nullopt;
}
std::optional<TimePoint> window_end(const access::Grant& g) {
  return g.has_window() ? std::optional<TimePoint>(g.expires_at) : std::nullopt;
}

void list_grants(Context& context, const ListOptions& options) {
  std::vector<access::Grant> grants;
  context.transact([&](pqxx::work& tx) { grants = access::list_grants(tx, options.active); });
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::Grant& g : grants) array.push_back(access::grant_json(g));
    return print_json(std::cout, array);
  }
  Table table({"ID", "USER", "TARGET", "LOGIN", "STATE", "STARTS", "EXPIRES", "TICKET", "REASON"});
  for (const access::Grant& g : grants) {
    table.add({std::to_string(g.id), g.user, g.target, g.login, access::to_string(g.state),
               time_cell(window_start(g)), time_cell(window_end(g)),
               g.ticket.empty() ? "-" : g.ticket, g.reason});
  }
  table.print(std::cout);
}

void revoke_grant(Context& context, const RevokeOptions& options) {
  context.transact([&](pqxx::work& tx) {
    access::revoke_grant(tx, context.actor(), options.id, options.reason);
  });
  std::cout << "revoked grant " << options.id << "; its sessions end within a second\n";
}

}  // namespace

void add_grant_commands(CLI::App& app, Action& chosen) {
  CLI::App* grant = app.add_subcommand("grant", "Give, list and revoke time-limited access")
                        ->require_subcommand(1);

  auto add = std::make_shared<AddOptions>();
  CLI::App* add_cmd = grant->add_subcommand(
      "add", "Grant USER access to TARGET:LOGIN from now on; prints the new grant id");
  add_cmd->add_option("USER", add->user, "User name")->required();
  add_cmd->add_option("TARGET:LOGIN", add->account, "Target and login, e.g. db01:postgres")
      ->required();
  add_cmd->add_option("--for", add->duration, "How long, e.g. 30m, 8h, 1h30m")->required();
  add_cmd->add_option("--reason", add->reason, "Why access is needed")->required();
  add_cmd->add_option("--ticket", add->ticket, "Change or incident reference");
  add_cmd->callback([&chosen, add] { chosen = [add](Context& c) { add_grant(c, *add); }; });

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = grant->add_subcommand("list", "List grants");
  list_cmd->add_flag("--active", list->active, "Only grants usable now");
  list_cmd->add_flag("--json", list->json, "Print one JSON array");
  list_cmd->callback([&chosen, list] { chosen = [list](Context& c) { list_grants(c, *list); }; });

  auto revoke = std::make_shared<RevokeOptions>();
  CLI::App* revoke_cmd =
      grant->add_subcommand("revoke", "End a grant now; its open sessions are closed");
  revoke_cmd->add_option("ID", revoke->id, "Grant id")->required();
  revoke_cmd->add_option("--reason", revoke->reason, "Why it is revoked");
  revoke_cmd->callback(
      [&chosen, revoke] { chosen = [revoke](Context& c) { revoke_grant(c, *revoke); }; });
}

}  // namespace portcullis::cli
