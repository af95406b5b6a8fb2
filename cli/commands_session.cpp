// `portcullis session list|show|kill`.
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>

#include "access/access.h"
#include "access/json.h"
#include "cli/cli.h"
#include "cli/output.h"
#include "recorder/postgres_store.h"

namespace portcullis::cli {
namespace {

struct ListOptions {
  access::SessionFilter filter;
  std::string since;
  bool json = false;
};

// A session's state as shown: "running", "ending" (its end is known to this node's daemon and
// waits in its journal for the database) or "ended".
struct ListedSession {
  access::SessionRow row;
  std::string state;
};

// The ends this node's daemon has journaled but not yet written: the database was down, or
// the daemon stopped before it could write them (its next start does). Other nodes' journals
// are on their own disks; their queued ends show once written, within a second of the
// database being back.
std::map<std::int64_t, access::QueuedSessionEnd> queued_ends(const Context& context) {
  const std::filesystem::path& file = context.config().database.journal_file;
  try {
    return access::queued_session_ends(store::read_journal(file));
  } catch (const std::system_error& e) {
    std::cerr << "portcullis: note: " << e.what()
              << "; sessions whose end is still queued there show as running (run as the user "
                 "portcullisd runs as to see them)\n";
    return {};
  }
}

std::vector<ListedSession> with_states(std::vector<access::SessionRow> rows,
                                       const Context& context) {
  std::map<std::int64_t, access::QueuedSessionEnd> ends;
  bool looked = false;
  std::vector<ListedSession> listed;
  for (access::SessionRow& row : rows) {
    std::string state = row.ended_at ? "ended" : "running";
    if (!row.ended_at && row.node == context.config().server.node_name) {
      if (!std::exchange(looked, true)) ends = queued_ends(context);
      if (auto end = ends.find(row.id); end != ends.end()) {
        state = "ending";
        row.ended_at = end->second.at;
        row.end_reason = end->second.reason;
        row.exit_status = end->second.exit_status;
      }
    }
    listed.push_back({std::move(row), std::move(state)});
  }
  return listed;
}

nlohmann::json session_json(const ListedSession& listed) {
  return access::session_json(listed.row, listed.state);
}

void list_sessions(Context& context, const ListOptions& options) {
  access::SessionFilter filter = options.filter;
  if (!options.since.empty()) filter.since = parse_since(options.since);
  std::vector<access::SessionRow> rows;
  context.transact([&](pqxx::work& tx) { rows = access::list_sessions(tx, filter); });
  std::vector<ListedSession> sessions = with_states(std::move(rows), context);
  // --active means still open: a session whose end is queued is over.
  if (filter.active_only) {
    std::erase_if(sessions, [](const ListedSession& s) { return s.state != "running"; });
  }
  if (options.json) {
    nlohmann::json array = nlohmann::json::array();
    for (const ListedSession& s : sessions) array.push_back(session_json(s));
    return print_json(std::cout, array);
  }
  Table table = access::session_table();
  for (const ListedSession& listed : sessions) {
    access::add_session_row(table, listed.row, listed.state);
  }
  table.print(std::cout);
}

struct ShowOptions {
  std::int64_t id = 0;
  bool json = false;
};

// What `session show` gathers: the session, its grant, its recording when one is stored, and
// the commands that [[alert_rule]]s matched.
struct SessionDetails {
  ListedSession session;
  std::optional<access::Grant> grant;
  std::optional<recorder::RecordingSummary> recording;
  std::vector<nlohmann::json> command_matches;  // the audit rows' details, oldest first
};

// The matches come from the audit rows the daemon writes as they happen, not from the
// recording's markers: they are there while the session still runs (its recording reaches
// the database as it ends), without reading a whole recording, and hash-chained.
std::vector<nlohmann::json> command_matches(pqxx::work& tx, std::int64_t session_id) {
  access::AuditFilter filter;
  filter.action = "session.command_matched";
  filter.object = "session:" + std::to_string(session_id);
  std::vector<nlohmann::json> matches;
  for (const access::AuditEvent& event : access::list_audit(tx, filter)) {
    nlohmann::json details = nlohmann::json::parse(event.details_json, nullptr, false);
    if (details.is_object()) matches.push_back(std::move(details));
  }
  return matches;
}

// A field of a match's details as text, "" when missing or not a string.
std::string text_of(const nlohmann::json& details, const char* key) {
  const auto found = details.find(key);
  return found != details.end() && found->is_string() ? found->get<std::string>() : "";
}

SessionDetails find_details(Context& context, std::int64_t id) {
  SessionDetails details;
  context.transact([&](pqxx::work& tx) {
    std::vector<access::SessionRow> rows = access::list_sessions(tx);
    std::erase_if(rows, [id](const access::SessionRow& s) { return s.id != id; });
    if (rows.empty())
      throw UsageError("no session " + std::to_string(id) + " (see `session list`)");
    details.session = std::move(with_states(std::move(rows), context).front());
    details.grant = access::find_grant(tx, details.session.row.grant_id);
    details.recording = recorder::find_recording(tx, id);
    details.command_matches = command_matches(tx, id);
  });
  return details;
}

std::string percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%",
                100.0 * static_cast<double>(part) / static_cast<double>(whole));
  return text;
}

nlohmann::json recording_json(const std::optional<recorder::RecordingSummary>& r) {
  if (!r) return nullptr;
  nlohmann::json approvals = nlohmann::json::array();
  for (const recorder::Approval& a : r->header.approvals) {
    approvals.push_back({{"approver", a.approver}, {"at", format_rfc3339(a.at)}});
  }
  return {{"state", r->state},
          {"incomplete_reason",
           r->incomplete_reason.empty() ? nlohmann::json() : nlohmann::json(r->incomplete_reason)},
          {"chunks", r->chunk_count},
          {"events", r->event_count},
          {"raw_bytes", r->raw_bytes},
          {"compressed_bytes", r->compressed_bytes},
          {"format_version", r->format_version},
          {"archived", r->archived},
          {"duration_us", r->duration_us},
          {"approvals", approvals},
          {"break_glass", r->header.break_glass},
          {"term", r->header.term},
          {"cols", r->header.cols},
          {"rows", r->header.rows},
          {"node_key_fingerprint", r->header.node_key_fingerprint}};
}

nlohmann::json details_json(const SessionDetails& d) {
  nlohmann::json json = session_json(d.session);
  if (d.grant) {
    json["grant"] = {{"id", d.grant->id},
                     {"state", access::to_string(d.grant->state)},
                     {"reason", d.grant->reason},
                     {"ticket", d.grant->ticket},
                     {"starts_at", format_rfc3339(d.grant->starts_at)},
                     {"expires_at", format_rfc3339(d.grant->expires_at)},
                     {"revoked_at", time_json(d.grant->revoked_at)}};
  }
  json["recording"] = recording_json(d.recording);
  json["command_matches"] = d.command_matches;
  return json;
}

void print_recording(const recorder::RecordingSummary& r) {
  std::cout << "recording    " << r.state
            << (r.incomplete_reason.empty() ? "" : " (" + inert_line(r.incomplete_reason) + ")")
            << ", " << r.chunk_count << " chunks, " << r.event_count << " events, "
            << format_duration(std::chrono::seconds(r.duration_us / 1'000'000)) << '\n'
            << "size         " << r.raw_bytes << " bytes raw, " << r.compressed_bytes
            << " compressed (" << percent(r.compressed_bytes, r.raw_bytes)
            << (r.archived ? ", archived" : "") << ")\n"
            << "approvals    ";
  if (r.header.approvals.empty()) std::cout << "none";
  for (std::size_t i = 0; i < r.header.approvals.size(); ++i) {
    std::cout << (i ? ", " : "") << inert_line(r.header.approvals[i].approver) << " at "
              << format_rfc3339(r.header.approvals[i].at);
  }
  std::cout << "\nbreak-glass  " << (r.header.break_glass ? "yes" : "no") << '\n'
            << "terminal     "
            << (r.header.term.empty()
                    ? "none (no pty)"
                    : inert_line(r.header.term) + " " + std::to_string(r.header.cols) + "x" +
                          std::to_string(r.header.rows))
            << '\n'
            << "node key     " << r.header.node_key_fingerprint << '\n';
}

// "alert        0:05 wipe (critical, terminate): rm -rf /", one line per match.
void print_command_matches(const std::vector<nlohmann::json>& matches) {
  for (const nlohmann::json& match : matches) {
    std::cout << "alert        " << inert_line(text_of(match, "offset")) << ' '
              << inert_line(text_of(match, "rule")) << " ("
              << inert_line(text_of(match, "severity")) << ", "
              << inert_line(text_of(match, "action"))
              << "): " << inert_line(text_of(match, "command")) << '\n';
  }
}

void show_session(Context& context, const ShowOptions& options) {
  const SessionDetails d = find_details(context, options.id);
  if (options.json) return print_json(std::cout, details_json(d));
  const access::SessionRow& s = d.session.row;
  std::cout << "session      " << s.id << '\n'
            << "user         " << s.user << '\n'
            << "target       " << s.target << " as " << s.login << '\n'
            << "node         " << s.node << '\n'
            << "client       " << inert_line(s.client) << '\n'
            << "started      " << format_rfc3339(s.started_at) << '\n'
            << "state        " << d.session.state << '\n'
            << "ended        " << time_cell(s.ended_at)
            << (s.end_reason ? " (" + access::to_string(*s.end_reason) + ")" : "")
            << (s.exit_status ? ", exit status " + std::to_string(*s.exit_status) : "") << '\n';
  if (d.grant) {
    std::cout << "grant        " << d.grant->id << " (" << access::to_string(d.grant->state)
              << "), " << format_rfc3339(d.grant->starts_at) << " to "
              << format_rfc3339(d.grant->expires_at) << '\n'
              << "reason       " << inert_line(d.grant->reason) << '\n'
              << "ticket       " << (d.grant->ticket.empty() ? "-" : inert_line(d.grant->ticket))
              << '\n';
  }
  if (d.recording) {
    print_recording(*d.recording);
  } else {
    std::cout << "recording    none stored (yet)\n";
  }
  print_command_matches(d.command_matches);
}

struct KillOptions {
  std::int64_t id = 0;
  std::string reason;
};

void kill_session(Context& context, const KillOptions& options) {
  context.transact([&](pqxx::work& tx) {
    access::request_session_kill(tx, context.actor(), options.id, options.reason);
  });
  std::cout << "asked the bastion to end session " << options.id << "; it closes within a second\n";
}

}  // namespace

void add_session_commands(CLI::App& app, Action& chosen) {
  CLI::App* session =
      app.add_subcommand("session", "List, show and end SSH sessions")->require_subcommand(1);

  auto list = std::make_shared<ListOptions>();
  CLI::App* list_cmd = session->add_subcommand("list", "List sessions, newest last");
  list_cmd->add_flag("--active", list->filter.active_only, "Only sessions still open");
  list_cmd->add_option("--user", list->filter.user, "Only this user's sessions");
  list_cmd->add_option("--target", list->filter.target, "Only sessions on this target");
  list_cmd->add_option("--since", list->since,
                       "Only sessions started since this RFC 3339 time, or this long ago (2h)");
  list_cmd->add_option("--grant", list->filter.grant_id, "Only sessions under this grant")
      ->check(CLI::PositiveNumber);
  list_cmd->add_flag("--json", list->json, "Print one JSON array");
  list_cmd->callback([&chosen, list] { chosen = [list](Context& c) { list_sessions(c, *list); }; });

  auto show = std::make_shared<ShowOptions>();
  CLI::App* show_cmd =
      session->add_subcommand("show", "Show a session: grant, reason, approvals, recording");
  show_cmd->add_option("ID", show->id, "Session id")->required();
  show_cmd->add_flag("--json", show->json, "Print one JSON object");
  show_cmd->callback([&chosen, show] { chosen = [show](Context& c) { show_session(c, *show); }; });

  auto kill = std::make_shared<KillOptions>();
  CLI::App* kill_cmd = session->add_subcommand("kill", "End an open session now");
  kill_cmd->add_option("ID", kill->id, "Session id")->required();
  kill_cmd->add_option("--reason", kill->reason, "Why; the session's user is shown it");
  kill_cmd->callback([&chosen, kill] { chosen = [kill](Context& c) { kill_session(c, *kill); }; });

  add_session_watch_command(*session, chosen);
}

}  // namespace portcullis::cli
