// `portcullis audit list|head|verify`: the hash-chained audit log and its signed checkpoints.
#include <sodium.h>

#include <iostream>

#include "access/access.h"
#include "access/json.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "cli/recording_source.h"
#include "recorder/keys.h"

namespace portcullis::cli {
namespace {

// "ID:HASH" as `audit head` prints it: a row id and its 64 hex digit hash.
std::pair<std::int64_t, std::string> parse_anchor(const std::string& text) {
  const auto fail = [&text]() -> std::pair<std::int64_t, std::string> {
    throw UsageError("--anchor " + inert_line(text) +
                     ": expected ID:HASH, a row id and its 64 hex digit hash, as "
                     "`portcullis audit head` prints them");
  };
  const std::size_t colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon > 18) return fail();
  std::int64_t id = 0;
  for (char c : std::string_view(text).substr(0, colon)) {
    if (c < '0' || c > '9') return fail();
    id = id * 10 + (c - '0');
  }
  const std::string_view hex = std::string_view(text).substr(colon + 1);
  std::string hash(crypto_hash_sha256_BYTES, '\0');
  std::size_t length = 0;
  if (hex.size() != hash.size() * 2 ||
      sodium_hex2bin(reinterpret_cast<unsigned char*>(hash.data()), hash.size(), hex.data(),
                     hex.size(), nullptr, &length, nullptr) != 0 ||
      length != hash.size()) {
    return fail();
  }
  return {id, hash};
}

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
      array.push_back(access::audit_event_json(e));
    }
    return print_json(std::cout, array);
  }
  Table table({"ID", "AT", "ACTOR", "ACTION", "OBJECT", "DETAILS"});
  for (const access::AuditEvent& e : events) {
    table.add({std::to_string(e.id), e.at, e.actor, e.action, e.object, e.details_json});
  }
  table.print(std::cout);
}

nlohmann::json checkpoint_json(const std::optional<access::AuditCheckpoint>& checkpoint) {
  if (!checkpoint) return nullptr;
  return {{"id", checkpoint->id},
          {"node", checkpoint->node},
          {"key", checkpoint->key_fingerprint},
          {"last_id", checkpoint->last_id},
          {"last_hash", to_hex(checkpoint->last_hash)},
          {"at", checkpoint->at},
          {"signature", to_hex(checkpoint->signature)}};
}

std::string anchor_of(std::int64_t id, const std::string& hash) {
  return std::to_string(id) + ":" + to_hex(hash);
}

void print_head(Context& context, bool json) {
  std::optional<access::AuditEvent> head;
  std::optional<access::AuditCheckpoint> checkpoint;
  context.transact([&](pqxx::work& tx) {
    head = access::audit_head(tx);
    checkpoint = access::latest_checkpoint(tx);
  });
  if (json) {
    nlohmann::json out{{"id", nullptr}, {"hash", nullptr}, {"at", nullptr}, {"anchor", nullptr}};
    if (head) {
      out = {{"id", head->id},
             {"hash", to_hex(head->hash)},
             {"at", head->at},
             {"anchor", anchor_of(head->id, head->hash)}};
    }
    out["checkpoint"] = checkpoint_json(checkpoint);
    return print_json(std::cout, out);
  }
  if (!head) {
    std::cout << "the audit log is empty\n";
    return;
  }
  std::cout << "head:       row " << head->id << " at " << head->at << "\n"
            << "anchor:     " << anchor_of(head->id, head->hash) << "\n";
  if (!checkpoint) {
    std::cout << "checkpoint: none yet (a running portcullisd signs the head every "
              << access::kCheckpointInterval.count() << " s)\n";
    return;
  }
  std::cout << "checkpoint: " << checkpoint->id << " by node " << inert_line(checkpoint->node)
            << " at " << checkpoint->at << ", row " << checkpoint->last_id << "\n"
            << "  anchor:    " << anchor_of(checkpoint->last_id, checkpoint->last_hash) << "\n"
            << "  key:       " << inert_line(checkpoint->key_fingerprint) << "\n"
            << "  signature: " << to_hex(checkpoint->signature) << "\n";
}

struct VerifyOptions {
  std::string anchor;
  std::string pubkey;
  std::string max_checkpoint_age = "60s";
  bool json = false;
};

void verify_chain(Context& context, const VerifyOptions& options) {
  access::AuditVerifyOptions verify;
  if (!options.anchor.empty()) verify.anchor = parse_anchor(options.anchor);
  try {
    verify.max_checkpoint_age = parse_duration(options.max_checkpoint_age);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--max-checkpoint-age: ") + e.what());
  }
  for (const recorder::PublicKey& key : known_node_keys(context, options.pubkey)) {
    verify.node_keys[recorder::fingerprint(key)] =
        std::string(reinterpret_cast<const char*>(key.data()), key.size());
  }
  access::AuditVerification result;
  context.transact([&](pqxx::work& tx) { result = access::verify_audit(tx, verify); });
  if (options.json) {
    nlohmann::json out{{"intact", result.intact},
                       {"rows", result.rows},
                       {"checkpoints", result.checkpoints},
                       {"newest_checkpoint", checkpoint_json(result.newest_checkpoint)},
                       {"rows_after_newest_checkpoint", result.uncovered_rows},
                       {"anchor", options.anchor.empty() ? nlohmann::json(nullptr)
                                                         : nlohmann::json(result.anchor_matched)},
                       {"bad_row", result.bad_row ? nlohmann::json(*result.bad_row) : nullptr},
                       {"problem", result.problem}};
    print_json(std::cout, out);
  } else if (!result.intact) {
    std::cout << "audit log NOT intact: " << inert_line(result.problem) << '\n';
  } else {
    std::cout << "audit log intact: " << result.rows << (result.rows == 1 ? " row" : " rows")
              << " verified, " << result.checkpoints << " signed checkpoint(s)";
    if (result.newest_checkpoint) {
      std::cout << ", the newest at " << result.newest_checkpoint->at << " covering row "
                << result.newest_checkpoint->last_id << " (" << result.uncovered_rows
                << " row(s) written since)";
    }
    std::cout << '\n';
    if (result.anchor_matched) {
      std::cout << "anchor " << inert_line(options.anchor)
                << " matches: nothing up to that row was rewritten or removed\n";
    }
  }
  if (!result.intact) {
    throw VerifyFailed("audit log broken at row " + std::to_string(*result.bad_row));
  }
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
  list_cmd->add_flag("--json", list->json, "Print one JSON array (with each row's hash)");
  list_cmd->callback([&chosen, list] { chosen = [list](Context& c) { list_events(c, *list); }; });

  auto head_json = std::make_shared<bool>(false);
  CLI::App* head_cmd = audit->add_subcommand(
      "head", "The newest row's id and hash (an anchor to keep elsewhere) and checkpoint");
  head_cmd->add_flag("--json", *head_json, "Print one JSON object");
  head_cmd->callback(
      [&chosen, head_json] { chosen = [head_json](Context& c) { print_head(c, *head_json); }; });

  auto verify = std::make_shared<VerifyOptions>();
  CLI::App* verify_cmd = audit->add_subcommand(
      "verify",
      "Recompute the hash chain, check every signed checkpoint; name the first row altered, "
      "inserted or deleted");
  verify_cmd->add_option("--anchor", verify->anchor,
                         "ID:HASH from `audit head`, kept elsewhere: prove nothing up to that "
                         "row was rewritten or removed");
  verify_cmd->add_option("--pubkey", verify->pubkey,
                         "Trust checkpoints signed by this key only (a `portcullis node pubkey` "
                         "line kept elsewhere) instead of the keys in the database");
  verify_cmd->add_option("--max-checkpoint-age", verify->max_checkpoint_age,
                         "Rows older than this must be covered by a checkpoint (default 60s; "
                         "0s: do not check)");
  verify_cmd->add_flag("--json", verify->json, "Print one JSON object");
  verify_cmd->callback(
      [&chosen, verify] { chosen = [verify](Context& c) { verify_chain(c, *verify); }; });
}

}  // namespace portcullis::cli
