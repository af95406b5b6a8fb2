// `portcullis audit list|verify`: the hash-chained audit log.
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/output.h"

namespace portcullis::cli {
namespace {

struct ListOptions {
  std::string since;
  std::string user;
  std::size_t limit = 1000;
  bool json = false;
};

void list_events(Context& context, const ListOptions& options) {
  access::AuditFilter filter;
  if (!options.since.empty()) filter.since = parse_since(options.since);
  filter.user = options.user;
  filter.limit = options.limit;
  std::vector<access::AuditEvent> events;
  context.transact([&](pqxx::work& tx) { events = access::list_audit(tx, filter); });
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::AuditEvent& e : events) {
      array.push_back({{"id", e.id},
                       {"at", e.at},
                       {"actor", e.actor},
                       {"action", e.action},
                       {"object", e.object},
                       {"details", nlohmann::json::parse(e.details_json)}});
    }
    return print_json(std::cout, array);
  }
  Table table({"ID", "AT", "ACTOR", "ACTION", "OBJECT", "DETAILS"});
  for (const access::AuditEvent& e : events) {
    table.add({std::to_string(e.id), e.at, e.actor, e.action, e.object, e.details_json});
  }
  table.print(std::cout);
}

void verify_chain(Context& context) {
  access::AuditVerification result;
  context.transact([&](pqxx::work& tx) { result = access::verify_audit(tx); });
  if (!result.intact) {
    std::cout << "audit log NOT intact: " << inert_line(result.problem) << '\n';
    throw VerifyFailed("audit chain broken at row " + std::to_string(*result.bad_row));
  }
  std::cout << "audit log intact: " << result.rows << (result.rows == 1 ? " row" : " rows")
            << " verified\n";
}

}  // namespace

void add_audit_commands(CLI::App& app, Action& chosen) {
  CLI::App* audit =
      app.add_subcommand("audit", "List and verify the audit log")->require_subcommand(1);

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = audit->add_subcommand("list", "Audit events, oldest first");
  list_cmd->add_option("--since", list->since, "From this UTC time, or this long ago (2h)");
  list_cmd->add_option("--user", list->user, "Only events by or about this user");
  list_cmd->add_option("--limit", list->limit, "At most this many (the newest); default 1000");
  list_cmd->add_flag("--json", list->json, "Print one JSON array");
  list_cmd->callback([&chosen, list] { chosen = [list](Context& c) { list_events(c, *list); }; });

  CLI::App* verify_cmd = audit->add_subcommand(
      "verify", "Recompute the hash chain; name the first row altered, inserted or deleted");
  verify_cmd->callback([&chosen] { chosen = [](Context& c) { verify_chain(c); }; });
}

}  // namespace portcullis::cli
