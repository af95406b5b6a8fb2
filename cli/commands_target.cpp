// `portcullis target add|list`: the hosts behind the bastion and their pinned host keys.
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/ssh_keys.h"

namespace portcullis::cli {
namespace {

constexpr std::chrono::seconds kScanTimeout{10};

struct AddOptions {
  std::string name;
  std::string host;
  std::uint16_t port = 22;
  std::string host_key_file;
  bool scan = false;
};

std::string host_key(const AddOptions& options) {
  if (!options.scan) return read_public_keys(options.host_key_file).front();
  std::string key = scan_host_key(options.host, options.port, kScanTimeout);
  // Trust on first use: say what was pinned so it can be checked out of band.
  std::cout << "scanned " << options.host << ":" << options.port << ": "
            << key.substr(0, key.find(' ')) << " " << access::public_key_fingerprint(key) << '\n';
  return key;
}

void add_target(Context& context, const AddOptions& options) {
  const std::string key = host_key(options);
  context.transact([&](pqxx::work& tx) {
    const access::Target target =
        access::add_target(tx, context.actor(), options.name, options.host, options.port, key);
    std::cout << "added target " << target.name << " (" << target.host << ":" << target.port
              << ", host key " << access::public_key_fingerprint(target.host_key) << ")\n";
  });
}

void list_targets(Context& context, bool json) {
  std::vector<access::Target> targets;
  context.transact([&](pqxx::work& tx) { targets = access::list_targets(tx); });
  if (json) {
    nlohmann::json array = nlohmann::json::array();
    for (const access::Target& t : targets) {
      array.push_back({{"id", t.id},
                       {"name", t.name},
                       {"host", t.host},
                       {"port", t.port},
                       {"host_key", t.host_key},
                       {"host_key_fingerprint", access::public_key_fingerprint(t.host_key)}});
    }
    return print_json(std::cout, array);
  }
  Table table({"NAME", "HOST", "PORT", "HOST KEY"});
  for (const access::Target& t : targets) {
    table.add({t.name, t.host, std::to_string(t.port), access::public_key_fingerprint(t.host_key)});
  }
  table.print(std::cout);
}

}  // namespace

void add_target_commands(CLI::App& app, Action& chosen) {
  CLI::App* target = app.add_subcommand("target", "Manage the hosts reachable through the bastion")
                         ->require_subcommand(1);

  auto add = std::make_shared<AddOptions>();
  CLI::App* add_cmd = target->add_subcommand("add", "Add a target and pin its SSH host key");
  add_cmd->add_option("NAME", add->name, "Target name used in logins (alice:NAME)")->required();
  add_cmd->add_option("--host", add->host, "Host name or address")->required();
  add_cmd->add_option("--port", add->port, "SSH port")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  CLI::Option_group* key = add_cmd->add_option_group("host key", "Where the pinned key comes from");
  key->add_option("--host-key", add->host_key_file, "File with the target's public host key");
  key->add_flag("--scan", add->scan, "Fetch the host key from the target now (trust on first use)");
  key->require_option(1);
  add_cmd->callback([&chosen, add] { chosen = [add](Context& c) { add_target(c, *add); }; });

  auto json = std::make_shared<bool>(false);
  CLI::App* list_cmd = target->add_subcommand("list", "List targets");
  list_cmd->add_flag("--json", *json, "Print one JSON array");
  list_cmd->callback([&chosen, json] { chosen = [json](Context& c) { list_targets(c, *json); }; });
}

}  // namespace portcullis::cli
