// `portcullis session list|kill`.
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/output.h"

namespace portcullis::cli {
namespace {

struct ListOptions {
  bool active = false;
  bool json = false;
};

template <typename T>
nlohmann::json json_or_null(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json();
}

nlohmann::json session_json(const access::SessionRow& s) {
  std::optional<std::string> reason;
  if (s.end_reason) reason = access::to_string(*s.end_reason);
  return {{"id", s.id},
          {"grant_id", s.grant_id},
          {"user", s.user},
          {"target", s.target},
          {"login", s.login},
          {"node", s.node},
          {"client", s.client},
          {"started_at", format_rfc3339(s.started_at)},
          {"ended_at", time_json(s.ended_at)},
          {"end_reason", json_or_null(reason)},
          {"exit_status", json_or_null(s.exit_status)}};
}

void list_sessions(Context& context, const ListOptions& options) {
  std::vector<access::SessionRow> sessions;
  context.transact([&](pqxx::work& tx) { sessions = access::list_sessions(tx, options.active); });
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::SessionRow& s : sessions) array.push_back(session_json(s));
    return print_json(std::cout, array);
  }
  Table table({"ID", "GRANT", "USER", "TARGET", "LOGIN", "NODE", "CLIENT", "STARTED", "ENDED",
               "END REASON", "EXIT"});
  for (const access::SessionRow& s : sessions) {
    table.add({std::to_string(s.id), std::to_string(s.grant_id), s.user, s.target, s.login, s.node,
               s.client, format_rfc3339(s.started_at), time_cell(s.ended_at),
               s.end_reason ? access::to_string(*s.end_reason) : "-",
               s.exit_status ? std::to_string(*s.exit_status) : "-"});
  }
  table.print(std::cout);
}

void kill_session(Context& context, std::int64_t id) {
  context.transact([&](pqxx::work& tx) { access::request_session_kill(tx, context.actor(), id); });
  std::cout << "asked the bastion to end session " << id << "; it closes within a second\n";
}

}  // namespace

void add_session_commands(CLI::App& app, Action& chosen) {
  CLI::App* session =
      app.add_subcommand("session", "List and end SSH sessions")->require_subcommand(1);

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = session->add_subcommand("list", "List sessions, newest last");
  list_cmd->add_flag("--active", list->active, "Only sessions still open");
  list_cmd->add_flag("--json", list->json, "Print one JSON array");
  list_cmd->callback([&chosen, list] { chosen = [list](Context& c) { list_sessions(c, *list); }; });

  auto id = std::make_shared<std::int64_t>(0);
  CLI::App* kill_cmd = session->add_subcommand("kill", "End an open session now");
  kill_cmd->add_option("ID", *id, "Session id")->required();
  kill_cmd->callback([&chosen, id] { chosen = [id](Context& c) { kill_session(c, *id); }; });
}

}  // namespace portcullis::cli
