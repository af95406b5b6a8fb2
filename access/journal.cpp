// The kinds of journal entry the daemon writes, and how each reaches the database. Every field
// is checked when applied: the journal is a file on disk, and a damaged or edited entry must be
// refused with a clear reason, never half-applied.
#include <nlohmann/json.hpp>

#include "access/queries.h"
#include "common/common.h"

namespace portcullis::access {
namespace {

constexpr std::string_view kAudit = "audit";
constexpr std::string_view kSessionEnd = "session.end";
constexpr std::string_view kOrphans = "sessions.orphaned";

// An audit row this much later than its event says when the event happened.
constexpr auto kLateAudit = std::chrono::seconds(1);

store::JournalEntry entry_of(std::string_view kind, TimePoint at, nlohmann::json fields) {
  store::JournalEntry entry;
  entry.kind = kind;
  entry.at = at;
  entry.fields = std::move(fields);
  return entry;
}

const std::string& text_field(const store::JournalEntry& entry, const char* name) {
  const auto found = entry.fields.find(name);
  if (found == entry.fields.end() || !found->is_string()) {
    throw std::invalid_argument("journal entry " + entry.id + " (" + entry.kind +
                                ") has no text field \"" + name + "\"");
  }
  return found->get_ref<const std::string&>();
}

std::int64_t number_field(const store::JournalEntry& entry, const char* name) {
  const auto found = entry.fields.find(name);
  if (found == entry.fields.end() || !found->is_number_integer()) {
    throw std::invalid_argument("journal entry " + entry.id + " (" + entry.kind +
                                ") has no integer field \"" + name + "\"");
  }
  return found->get<std::int64_t>();
}

std::optional<int> exit_status_field(const store::JournalEntry& entry) {
  const auto found = entry.fields.find("exit_status");
  if (found == entry.fields.end() || found->is_null()) return std::nullopt;
  if (!found->is_number_integer() || found->get<std::int64_t>() < 0 ||
      found->get<std::int64_t>() > 255) {
    throw std::invalid_argument("journal entry " + entry.id + " has an invalid exit status");
  }
  return static_cast<int>(found->get<std::int64_t>());
}

EndReason reason_field(const store::JournalEntry& entry) {
  const std::string& text = text_field(entry, "reason");
  if (auto reason = parse_end_reason(text)) return *reason;
  throw std::invalid_argument("journal entry " + entry.id + " has an unknown end reason \"" +
                              escape_invalid_utf8(text) + "\"");
}

void apply_audit(pqxx::work& tx, const store::JournalEntry& entry) {
  nlohmann::json details = nlohmann::json::parse(text_field(entry, "details"));
  if (details.is_object() && Clock::now() - entry.at >= kLateAudit) {
    details["occurred_at"] = format_rfc3339(entry.at);
  }
  audit(tx, text_field(entry, "actor"), text_field(entry, "action"), text_field(entry, "object"),
        details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

store::JournalEntry journal_audit(const std::string& actor, const std::string& action,
                                  const std::string& object, const std::string& details_json) {
  return entry_of(
      kAudit, Clock::now(),
      {{"actor", actor}, {"action", action}, {"object", object}, {"details", details_json}});
}

store::JournalEntry journal_session_end(std::int64_t session_id, EndReason reason,
                                        std::optional<int> exit_status, TimePoint ended_at) {
  return entry_of(kSessionEnd, ended_at,
                  {{"session", session_id},
                   {"reason", to_string(reason)},
                   {"exit_status", exit_status ? nlohmann::json(*exit_status) : nlohmann::json()}});
}

store::JournalEntry journal_orphans(const std::string& node, const std::string& boot,
                                    TimePoint restarted_at) {
  return entry_of(kOrphans, restarted_at, {{"node", node}, {"boot", boot}});
}

bool apply_journal_entry(pqxx::work& tx, const store::JournalEntry& entry) {
  if (entry.kind != kAudit && entry.kind != kSessionEnd && entry.kind != kOrphans) {
    throw std::invalid_argument("journal entry " + entry.id + " has an unknown kind \"" +
                                escape_invalid_utf8(entry.kind) + "\"");
  }
  // Claimed first, in the same transaction as its effect: both happen, or neither.
  if (tx.exec_params("INSERT INTO journal_applied (entry_id) VALUES ($1)"
                     " ON CONFLICT DO NOTHING RETURNING 1",
                     entry.id)
          .empty()) {
    return false;
  }
  if (entry.kind == kAudit) {
    apply_audit(tx, entry);
  } else if (entry.kind == kSessionEnd) {
    end_session(tx, number_field(entry, "session"), reason_field(entry), exit_status_field(entry),
                entry.at);
  } else {
    close_orphaned_sessions(tx, text_field(entry, "node"), text_field(entry, "boot"), entry.at);
  }
  return true;
}

void forget_journal_entries(pqxx::work& tx, const std::vector<std::string>& entry_ids) {
  if (entry_ids.empty()) return;
  // Ids hold no commas (store::JournalEntry), so one joined parameter carries them all.
  tx.exec_params("DELETE FROM journal_applied WHERE entry_id = ANY(string_to_array($1, ','))",
                 join(entry_ids, ","));
}

std::map<std::int64_t, QueuedSessionEnd> queued_session_ends(
    const store::JournalContents& journal) {
  std::map<std::int64_t, QueuedSessionEnd> ends;
  for (const store::JournalEntry& entry : journal.entries) {
    if (entry.kind != kSessionEnd) continue;
    try {
      // The first end of a session counts, as in the database.
      ends.try_emplace(number_field(entry, "session"),
                       QueuedSessionEnd{reason_field(entry), exit_status_field(entry), entry.at});
    } catch (const std::invalid_argument&) {
      // Shown by the daemon when it applies the entry; a listing just leaves it out.
    }
  }
  return ends;
}

}  // namespace portcullis::access
