// `portcullis target add|list`: the hosts behind the bastion, and how their host keys are
// trusted (one key pinned, or a host CA).
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
  std::string host_ca_file;
  bool scan = false;
};

access::HostTrust host_trust(const AddOptions& options) {
  if (!options.host_ca_file.empty()) {
    return {read_public_keys(options.host_ca_file).front(), true};
  }
  if (!options.scan) return {read_public_keys(options.host_key_file).front(), false};
  std::string key = scan_host_key(options.host, options.port, kScanTimeout);
  // Trust on first use: say what was pinned so it can be checked out of band.
  std::cout << "scanned " << options.host << ":" << options.port << ": "
            << key.substr(0, key.find(' ')) << " " << access::public_key_fingerprint(key) << '\n';
  return {key, false};
}

// "host key SHA256:..." or "host CA SHA256:...": how the target's host key is trusted.
std::string trust_text(const access::Target& target) {
  if (!target.host_ca.empty()) return "host CA " + access::public_key_fingerprint(target.host_ca);
  return "host key " + access::public_key_fingerprint(target.host_key);
}

void add_target(Context& context, const AddOptions& options) {
  const access::HostTrust trust = host_trust(options);
  context.transact([&](pqxx::work& tx) {
    const access::Target target =
        access::add_target(tx, context.actor(), options.name, options.host, options.port, trust);
    std::cout << "added target " << target.name << " (" << target.host << ":" << target.port << ", "
              << trust_text(target) << ")\n";
  });
}

// Null in JSON for the kind of trust the target does not use.
nlohmann::json key_or_null(const std::string& line) {
  return line.empty() ? nlohmann::json() : nlohmann::json(line);
}

nlohmann::json fingerprint_or_null(const std::string& line) {
  return line.empty() ? nlohmann::json() : nlohmann::json(access::public_key_fingerprint(line));
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
                       {"host_key", key_or_null(t.host_key)},
                       {"host_key_fingerprint", fingerprint_or_null(t.host_key)},
                       {"host_ca", key_or_null(t.host_ca)},
                       {"host_ca_fingerprint", fingerprint_or_null(t.host_ca)}});
    }
    return print_json(std::cout, array);
  }
  Table table({"NAME", "HOST", "PORT", "TRUSTS"});
  for (const access::Target& t : targets) {
    table.add({t.name, t.host, std::to_string(t.port), trust_text(t)});
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
  key->add_option("--host-ca", add->host_ca_file,
                  "File with the public key of the CA whose host certificates for this target's "
                  "name or host are trusted (instead of pinning one key)");
  key->require_option(1);
  add_cmd->callback([&chosen, add] { chosen = [add](Context& c) { add_target(c, *add); }; });

  auto json = std::make_shared<bool>(false);
  CLI::App* list_cmd = target->add_subcommand("list", "List targets");
  list_cmd->add_flag("--json", *json, "Print one JSON array");
  list_cmd->callback([&chosen, json] { chosen = [json](Context& c) { list_targets(c, *json); }; });
}

}  // namespace portcullis::cli
