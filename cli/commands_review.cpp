// `portcullis review list|ack`: the security review of break-glass grants.
#include <iostream>

#include "access/json.h"
#include "access/workflow.h"
#include "cli/cli.h"
#include "cli/output.h"

namespace portcullis::cli {
namespace {

struct ListOptions {
  bool all = false;
  bool json = false;
};

struct AckOptions {
  std::int64_t id = 0;
  std::string note;
};

void list_reviews(Context& context, const ListOptions& options) {
  std::vector<access::Grant> grants;
  context.transact([&](pqxx::work& tx) { grants = access::review_queue(tx, options.all); });
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::Grant& g : grants) array.push_back(access::grant_json(g));
    return print_json(std::cout, array);
  }
  Table table({"ID", "USER", "TARGET", "LOGIN", "AT", "FOR", "STATE", "REVIEWED", "REASON"});
  for (const access::Grant& g : grants) {
    table.add({std::to_string(g.id), g.user, g.target, g.login, format_rfc3339(g.requested_at),
               format_duration(g.duration), access::to_string(g.state),
               g.reviewed_at ? g.reviewed_by : "no", g.reason});
  }
  table.print(std::cout);
}

void acknowledge(Context& context, const AckOptions& options) {
  context.transact([&](pqxx::work& tx) {
    access::acknowledge_review(tx, context.actor(), options.id, options.note);
  });
  std::cout << "review of break-glass grant " << options.id << " recorded\n";
}

}  // namespace

void add_review_commands(CLI::App& app, Action& chosen) {
  CLI::App* review = app.add_subcommand("review", "Review break-glass grants flagged for security")
                         ->require_subcommand(1);

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = review->add_subcommand("list", "Break-glass grants waiting for review");
  list_cmd->add_flag("--all", list->all, "Include those already reviewed");
  list_cmd->add_flag("--json", list->json, "Print one JSON array");
  list_cmd->callback([&chosen, list] { chosen = [list](Context& c) { list_reviews(c, *list); }; });

  auto ack = std::make_shared<AckOptions>();
  CLI::App* ack_cmd = review->add_subcommand("ack", "Record the review of a break-glass grant");
  ack_cmd->add_option("ID", ack->id, "Grant id")->required();
  ack_cmd->add_option("--note", ack->note, "What the review found")->required();
  ack_cmd->callback([&chosen, ack] { chosen = [ack](Context& c) { acknowledge(c, *ack); }; });
}

}  // namespace portcullis::cli
