#include "proxy/control.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace portcullis::proxy {
namespace {

using nlohmann::json;

const char* const kHelp =
    "Portcullis control commands (run as: ssh USER@BASTION COMMAND ...):\n"
    "  request TARGET[:LOGIN] --for DURATION --reason TEXT [--ticket REF]\n"
    "                           ask for access; prints the request id and its state\n"
    "  requests                 pending requests you may approve\n"
    "  approve ID [--comment TEXT]\n"
    "  deny ID --reason TEXT\n"
    "  grants                   your grants and requests: id, target, state, time left, reason\n"
    "  extend ID --for DURATION --reason TEXT\n"
    "                           ask for more time (same policy as a new request)\n"
    "  revoke ID [--reason TEXT]\n"
    "  break-glass TARGET[:LOGIN] --for DURATION --reason TEXT\n"
    "                           emergency access without approval; security is alerted\n"
    "  whoami                   your name, roles and MFA status\n"
    "  help                     this text\n"
    "Every command takes --json. Durations: 30m, 2h, 1h30m. Connect to a target with\n"
    "ssh USER:TARGET@BASTION (or USER:TARGET:LOGIN) while a grant is active.\n";

// A mistake in the command line; the message says what to type instead.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Indented, ASCII only (every other character as a \u escape): exact, and inert on a terminal.
std::string json_reply(const json& value) {
  return value.dump(2, ' ', true, json::error_handler_t::replace) + "\n";
}

json time_or_null(const std::optional<access::TimePoint>& t) {
  return t ? json(format_rfc3339(*t)) : json(nullptr);
}

std::string remaining(const access::Grant& grant) {
  if (grant.state != access::GrantState::active) return "-";
  const auto left =
      std::chrono::duration_cast<std::chrono::seconds>(grant.expires_at - access::Clock::now());
  return left.count() > 0 ? format_duration(left) : "0s";
}

json grant_json(const access::Grant& g) {
  json object{{"id", g.id},
              {"state", access::to_string(g.state)},
              {"starts_at", g.has_window() ? json(format_rfc3339(g.starts_at)) : json(nullptr)},
              {"expires_at", g.has_window() ? json(format_rfc3339(g.expires_at)) : json(nullptr)},
              {"approvals_needed", g.approvals_needed},
              {"approvals_given", g.approvals_given},
              {"user", g.user},
              {"target", g.target},
              {"login", g.login},
              {"reason", g.reason},
              {"ticket", g.ticket},
              {"duration", format_duration(g.duration)},
              {"policy", g.policy},
              {"break_glass", g.break_glass},
              {"requested_at", format_rfc3339(g.requested_at)},
              {"pending_until", time_or_null(g.pending_until)},
              {"extends", g.extends ? json(*g.extends) : json(nullptr)}};
  if (g.state == access::GrantState::denied) {
    object["denied_by"] = g.denied_by;
    object["deny_reason"] = g.deny_reason;
  }
  if (g.revoked_at) {
    object["revoked_at"] = format_rfc3339(*g.revoked_at);
    object["revoke_reason"] = g.revoke_reason;
  }
  return object;
}

std::string what(const access::Grant& g) {
  return (g.extends
              ? "extension " + std::to_string(g.id) + " of grant " + std::to_string(*g.extends)
              : (g.has_window() || g.break_glass ? "grant " : "request ") + std::to_string(g.id)) +
         " (" + g.user + " on " + g.target + ":" + g.login + ")";
}

std::string approver_roles(const access::CompiledRule* rule) {
  return rule == nullptr ? std::string() : join(rule->config.approver_roles, " or ");
}

// One paragraph saying where a grant or request stands and what happens next.
std::string outcome_text(const access::WorkflowResult& result) {
  const access::Grant& g = result.grant;
  std::ostringstream out;
  out << what(g) << ": " << access::to_string(g.state);
  switch (g.state) {
    case access::GrantState::active:
      out << " until " << format_rfc3339(g.expires_at);
      if (g.break_glass) out << " (BREAK-GLASS: security has been alerted; this grant is reviewed)";
      out << "\nconnect with: ssh " << g.user << ":" << g.target << ":" << g.login
          << "@<this bastion>\n";
      break;
    case access::GrantState::pending:
      out << ": " << g.approvals_given << " of " << g.approvals_needed
          << " approval(s) given; approvers need the role " << approver_roles(result.rule)
          << " (rule " << g.policy << ")";
      if (g.pending_until) out << "; lapses at " << format_rfc3339(*g.pending_until);
      out << "\n";
      break;
    default:
      out << "\n";
  }
  return out.str();
}

// "db01:postgres", or "+17 db01:postgres" for an extension of grant 17.
std::string where_of(const access::Grant& g) {
  std::string where;
  if (g.extends) where.append("+").append(std::to_string(*g.extends)).append(" ");
  return where.append(g.target).append(":").append(g.login);
}

std::string grants_table(const std::vector<access::Grant>& grants) {
  if (grants.empty()) return "no grants or requests\n";
  std::ostringstream out;
  out << "ID     TARGET:LOGIN                STATE     LEFT       ENDS                  REASON\n";
  for (const access::Grant& g : grants) {
    const std::string where = where_of(g);
    char line[160];
    std::snprintf(line, sizeof line, "%-6lld %-27s %-9s %-10s %-21s ", static_cast<long long>(g.id),
                  where.c_str(), access::to_string(g.state).c_str(), remaining(g).c_str(),
                  g.has_window() ? format_rfc3339(g.expires_at).c_str() : "-");
    out << line << one_line(g.reason) << '\n';
  }
  return out.str();
}

std::string requests_table(const std::vector<access::Grant>& requests) {
  if (requests.empty()) return "no pending requests for you to approve\n";
  std::ostringstream out;
  out << "ID     USER         TARGET:LOGIN                FOR      APPROVALS  TICKET       "
         "REASON\n";
  for (const access::Grant& g : requests) {
    char line[200];
    std::string approvals =
        std::to_string(g.approvals_given) + "/" + std::to_string(g.approvals_needed);
    const std::string where = where_of(g);
    std::snprintf(line, sizeof line, "%-6lld %-12s %-27s %-8s %-10s %-12s ",
                  static_cast<long long>(g.id), g.user.c_str(), where.c_str(),
                  format_duration(g.duration).c_str(), approvals.c_str(),
                  g.ticket.empty() ? "-" : g.ticket.c_str());
    out << line << one_line(g.reason) << '\n';
  }
  return out.str();
}

access::RequestInput parse_target(const std::string& spec) {
  access::RequestInput input;
  const auto colon = spec.find(':');
  input.target = spec.substr(0, colon);
  if (colon != std::string::npos) input.login = spec.substr(colon + 1);
  if (input.target.empty() || input.login.find(':') != std::string::npos ||
      (colon != std::string::npos && input.login.empty())) {
    throw UsageError("\"" + spec + "\" is not TARGET or TARGET:LOGIN");
  }
  return input;
}

std::chrono::seconds duration_option(const std::string& text) {
  try {
    return parse_duration(text);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("--for: ") + e.what());
  }
}

// The command the user chose, bound to its parsed arguments; runs inside the transaction.
using Command = std::function<ControlReply(pqxx::work&, const access::Actor&)>;

struct Parsed {
  Command command;
  bool json = false;
};

class CommandLine {
 public:
  explicit CommandLine(const ControlEnvironment& env) : env_(env) {
    app_.set_help_flag();
    app_.require_subcommand(0, 1);
    app_.fallthrough();
    app_.add_flag("--json", json_, "print JSON");
    add_request("request", false);
    add_request("break-glass", true);
    add_requests();
    add_approve();
    add_deny();
    add_grants();
    add_extend();
    add_revoke();
    add_whoami();
    app_.add_subcommand("help", "show the commands");
  }

  Parsed parse(std::vector<std::string> args) {
    std::reverse(args.begin(), args.end());
    try {
      app_.parse(args);
    } catch (const CLI::ParseError& e) {
      throw UsageError(lower_first(e.what()));
    }
    Parsed parsed;
    parsed.json = json_;
    for (const CLI::App* sub : app_.get_subcommands()) {
      if (sub->get_name() != "help") parsed.command = commands_.at(sub->get_name());
    }
    return parsed;
  }

 private:
  static std::string lower_first(std::string text) {
    if (text.size() > 1 && !std::isupper(static_cast<unsigned char>(text[1]))) {
      text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    }
    return text + " (run `help` for usage)";
  }

  access::WorkflowSettings settings() const {
    return access::WorkflowSettings{env_.config.access.approval_timeout, access::Clock::now()};
  }

  ControlReply reply_for(const access::WorkflowResult& result) const {
    ControlReply reply;
    reply.out = json_ ? json_reply(grant_json(result.grant)) : outcome_text(result);
    reply.alerts = result.alerts;
    return reply;
  }

  void add_request(const std::string& name, bool emergency) {
    CLI::App* sub = app_.add_subcommand(
        name, emergency ? "emergency access without approval" : "ask for access to a target");
    sub->add_option("target", target_, "TARGET or TARGET:LOGIN")->required();
    sub->add_option("--for", for_, "how long, e.g. 30m, 2h")->required();
    sub->add_option("--reason", reason_, "why you need access")->required();
    if (!emergency) sub->add_option("--ticket", ticket_, "change or incident reference");
    commands_[name] = [this, emergency](pqxx::work& tx, const access::Actor& actor) {
      access::RequestInput input = parse_target(target_);
      input.duration = duration_option(for_);
      input.reason = reason_;
      input.ticket = ticket_;
      return reply_for(emergency
                           ? access::break_glass(tx, env_.policy, actor, input, settings())
                           : access::request_grant(tx, env_.policy, actor, input, settings()));
    };
  }

  void add_requests() {
    app_.add_subcommand("requests", "pending requests you may approve");
    commands_["requests"] = [this](pqxx::work& tx, const access::Actor& actor) {
      const std::vector<access::Grant> requests = access::requests_for(tx, env_.policy, actor.user);
      return list_reply(requests, requests_table(requests));
    };
  }

  void add_approve() {
    CLI::App* sub = app_.add_subcommand("approve", "approve a pending request");
    sub->add_option("id", id_, "request id")->required();
    sub->add_option("--comment", comment_, "a note kept with the approval");
    commands_["approve"] = [this](pqxx::work& tx, const access::Actor& actor) {
      return reply_for(access::approve_grant(tx, env_.policy, actor, id_, comment_));
    };
  }

  void add_deny() {
    CLI::App* sub = app_.add_subcommand("deny", "deny a pending request");
    sub->add_option("id", id_, "request id")->required();
    sub->add_option("--reason", reason_, "why")->required();
    commands_["deny"] = [this](pqxx::work& tx, const access::Actor& actor) {
      return reply_for(access::deny_grant(tx, env_.policy, actor, id_, reason_));
    };
  }

  void add_grants() {
    app_.add_subcommand("grants", "your grants and requests");
    commands_["grants"] = [this](pqxx::work& tx, const access::Actor& actor) {
      const std::vector<access::Grant> grants = access::grants_of(tx, actor.user.name);
      return list_reply(grants, grants_table(grants));
    };
  }

  void add_extend() {
    CLI::App* sub = app_.add_subcommand("extend", "ask for more time on an active grant");
    sub->add_option("id", id_, "grant id")->required();
    sub->add_option("--for", for_, "how much longer, e.g. 30m")->required();
    sub->add_option("--reason", reason_, "why")->required();
    commands_["extend"] = [this](pqxx::work& tx, const access::Actor& actor) {
      return reply_for(access::extend_grant(tx, env_.policy, actor, id_, duration_option(for_),
                                            reason_, settings()));
    };
  }

  void add_revoke() {
    CLI::App* sub = app_.add_subcommand("revoke", "end a grant or withdraw a request now");
    sub->add_option("id", id_, "grant id")->required();
    sub->add_option("--reason", reason_, "why");
    commands_["revoke"] = [this](pqxx::work& tx, const access::Actor& actor) {
      access::Grant grant = access::revoke_as_user(tx, env_.policy, actor, id_, reason_);
      return reply_for(access::WorkflowResult{grant, nullptr, {}});
    };
  }

  void add_whoami() {
    app_.add_subcommand("whoami", "your name, roles and MFA status");
    commands_["whoami"] = [this](pqxx::work& tx, const access::Actor& actor) {
      const bool enrolled = access::totp_enrolled(tx, actor.user.name);
      ControlReply reply;
      if (json_) {
        reply.out = json_reply(json{{"user", actor.user.name},
                                    {"roles", actor.user.roles},
                                    {"totp_enrolled", enrolled},
                                    {"mfa_verified", actor.mfa_verified}});
      } else {
        const std::string roles = join(actor.user.roles, ", ");
        reply.out = actor.user.name + " (roles: " + (roles.empty() ? "none" : roles) + "); TOTP " +
                    (enrolled ? "enrolled" : "not enrolled") +
                    (actor.mfa_verified ? ", verified on this connection" : "") + "\n";
      }
      return reply;
    };
  }

  ControlReply list_reply(const std::vector<access::Grant>& grants, std::string table) const {
    ControlReply reply;
    if (!json_) {
      reply.out = std::move(table);
      return reply;
    }
    json array = json::array();
    for (const access::Grant& g : grants) array.push_back(grant_json(g));
    reply.out = json_reply(array);
    return reply;
  }

  const ControlEnvironment& env_;
  CLI::App app_{"Portcullis control commands", "ssh USER@BASTION"};
  std::map<std::string, Command> commands_;
  bool json_ = false;
  std::string target_, for_, reason_, ticket_, comment_;
  std::int64_t id_ = 0;
};

// ssh joins its arguments with spaces, so `--reason "disk full"` arrives as two words. Free
// text therefore runs to the next --option.
std::vector<std::string> join_free_text(const std::vector<std::string>& words) {
  static const std::set<std::string> kFreeText{"--reason", "--comment", "--note"};
  std::vector<std::string> joined;
  bool in_text = false;
  for (const std::string& word : words) {
    if (word.starts_with("--")) {
      in_text = kFreeText.contains(word);
      joined.push_back(word);
    } else if (in_text && !joined.empty() && !kFreeText.contains(joined.back())) {
      joined.back() += " " + word;
    } else {
      joined.push_back(word);
    }
  }
  return joined;
}

ControlReply failure(const std::string& message, int status) {
  ControlReply reply;
  reply.err = "portcullis: " + one_line(message) + "\n";
  reply.exit_status = status;
  return reply;
}

// With no command: the help and the user's grants, so a bare `ssh alice@bastion` is useful.
ControlReply overview(const ControlEnvironment& env, const access::Actor& actor) {
  ControlReply reply;
  reply.out = kHelp;
  auto grants = env.workers.transact_now(
      [&](pqxx::work& tx) { return access::grants_of(tx, actor.user.name); });
  if (grants.ok()) reply.out += "\nYour grants:\n" + grants_table(*grants.value);
  return reply;
}

}  // namespace

std::vector<std::string> split_command_line(std::string_view line) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    in_word = true;
    if (c == '\\') {
      if (++i == line.size()) throw std::invalid_argument("the command ends with a backslash");
      word += line[i];
    } else if (c == '\'') {
      const std::size_t close = line.find('\'', i + 1);
      if (close == std::string_view::npos) throw std::invalid_argument("unterminated ' quote");
      word += line.substr(i + 1, close - i - 1);
      i = close;
    } else if (c == '"') {
      for (++i;; ++i) {
        if (i == line.size()) throw std::invalid_argument("unterminated \" quote");
        if (line[i] == '"') break;
        if (line[i] == '\\' && i + 1 < line.size() &&
            std::string_view("\"\\$`").find(line[i + 1]) != std::string_view::npos) {
          ++i;
        }
        word += line[i];
      }
    } else {
      word += c;
    }
  }
  if (in_word) words.push_back(std::move(word));
  return words;
}

namespace {

ControlReply run_unchecked(const ControlEnvironment& env, const access::Actor& actor,
                           const std::string& command_line) {
  std::vector<std::string> args;
  try {
    args = join_free_text(split_command_line(command_line));
  } catch (const std::invalid_argument& e) {
    return failure(std::string("cannot parse the command: ") + e.what(), 2);
  }
  if (args.empty() || args.front() == "help" || args.front() == "--help") {
    return overview(env, actor);
  }
  CommandLine command_line_parser(env);
  Parsed parsed;
  try {
    parsed = command_line_parser.parse(args);
  } catch (const UsageError& e) {
    return failure(e.what(), 2);
  }
  if (!parsed.command) return overview(env, actor);
  auto outcome = env.workers.transact_now([&](pqxx::work& tx) {
    try {
      return parsed.command(tx, actor);
    } catch (const UsageError& e) {
      throw access::AccessError(e.what());
    }
  });
  if (outcome.ok()) return std::move(*outcome.value);
  if (outcome.database_unavailable) {
    return failure("the access database is unreachable; try again shortly", 1);
  }
  if (!outcome.refused) {
    spdlog::error("user={} control command failed: {}", actor.user.name, outcome.error);
    return failure(
        "the command failed on the bastion; the administrator can find the details in "
        "its log",
        1);
  }
  return failure(outcome.error, 1);
}

}  // namespace

ControlReply run_control_command(const ControlEnvironment& env, const access::Actor& actor,
                                 const std::string& command_line) {
  ControlReply reply = run_unchecked(env, actor, command_line);
  // Replies show what other people wrote (reasons, tickets, comments): one neutralisation here
  // covers every command. JSON replies are ASCII (dumped with ensure_ascii), so it leaves them
  // exactly as they are.
  reply.out = inert_text(reply.out);
  reply.err = inert_text(reply.err);
  return reply;
}

}  // namespace portcullis::proxy
