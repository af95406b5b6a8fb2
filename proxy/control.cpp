#include "proxy/control.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "access/json.h"
#include "proxy/control_oversight.h"
#include "web/sign_in.h"

namespace portcullis::proxy {

std::string json_reply(const nlohmann::json& value) {
  return value.dump(2, ' ', true, nlohmann::json::error_handler_t::replace) + "\n";
}

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
    "  connect TARGET[:LOGIN] [--for DURATION --reason TEXT [--ticket REF]]\n"
    "                           request if needed, wait for approval, then open a shell\n"
    "                           (use ssh -t; Ctrl-C while waiting withdraws the request)\n"
    "  wait ID                  block until request ID is decided: exit 0 approved, 1 not\n"
    "  config                   ssh_config lines for every target you can reach\n"
    "  whoami                   your name, roles and MFA status\n"
    "  web-login                a one-time link (60 s) that signs you in to the web console\n"
    "  sessions [--active]      sessions on every node (auditors)\n"
    "  watch ID                 watch a running session live (ssh -t; q leaves,\n"
    "                           Ctrl-] k ends it)\n"
    "  join ID                  type into a running session too (ssh -t; Ctrl-] q leaves)\n"
    "  kill ID --reason TEXT    end a running session now; its user is told who and why\n"
    "  help                     this text\n"
    "Every command takes --json. Durations: 30m, 2h, 1h30m. Connect to a target with\n"
    "ssh USER+TARGET@BASTION (or USER+TARGET+LOGIN; ':' works too) while a grant is active.\n";

std::string remaining(const access::Grant& grant) {
  if (grant.state != access::GrantState::active) return "-";
  const auto left =
      std::chrono::duration_cast<std::chrono::seconds>(grant.expires_at - access::Clock::now());
  return left.count() > 0 ? format_duration(left) : "0s";
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
      out << "\nconnect with: ssh " << g.user << "+" << g.target << "+" << g.login
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

// The Host entries `config` prints: one per target the user may request or holds a grant or a
// pending request for.
struct HostEntry {
  std::string target;
  std::vector<std::string> accounts;
  bool requestable = false;
  std::vector<const access::Grant*> grants;  // active or pending
};

std::vector<HostEntry> reachable_targets(pqxx::work& tx, const ControlEnvironment& env,
                                         const access::Actor& actor,
                                         const std::vector<access::Grant>& grants) {
  std::map<std::string, std::vector<std::string>> accounts;
  for (const access::Account& account : access::list_accounts(tx)) {
    accounts[account.target_name].push_back(account.login);
  }
  std::vector<HostEntry> entries;
  for (const access::Target& target : access::list_targets(tx)) {
    HostEntry entry{target.name, accounts[target.name], false, {}};
    entry.requestable = env.policy.match(actor.user.roles, target.name) != nullptr;
    for (const access::Grant& g : grants) {
      if (g.target == target.name && !g.extends &&
          (g.state == access::GrantState::active || g.state == access::GrantState::pending)) {
        entry.grants.push_back(&g);
      }
    }
    if (entry.requestable || !entry.grants.empty()) entries.push_back(std::move(entry));
  }
  return entries;
}

std::string host_alias(const std::string& target) { return target + ".portcullis"; }

std::string ssh_config_text(const ControlEnvironment& env, const access::Actor& actor,
                            const std::vector<HostEntry>& entries) {
  std::ostringstream out;
  out << "# Portcullis targets for " << actor.user.name << " through " << env.public_host
      << " port " << env.public_port << ", " << format_rfc3339(access::Clock::now()) << ".\n"
      << "# Append to ~/.ssh/config, or save as ~/.ssh/portcullis.conf and add the line\n"
      << "# \"Include portcullis.conf\" to ~/.ssh/config. Then: ssh db01.portcullis,\n"
      << "# scp FILE db01.portcullis:/tmp/, git clone db01.portcullis:repo.git\n";
  if (entries.empty()) out << "# (no target you may request or hold a grant for)\n";
  for (const HostEntry& entry : entries) {
    out << "\n# " << entry.target << ": "
        << (entry.accounts.empty() ? std::string("no accounts") : join(entry.accounts, ", "));
    for (const access::Grant* g : entry.grants) {
      out << "; " << (g->state == access::GrantState::active ? "grant " : "request ") << g->id
          << " " << access::to_string(g->state);
    }
    if (entry.grants.empty())
      out << "; request with: ssh " << actor.user.name << "@" << env.public_host << " request "
          << entry.target << " --for 1h --reason ...";
    out << "\nHost " << host_alias(entry.target) << "\n"
        << "    HostName " << env.public_host << "\n"
        << "    Port " << env.public_port << "\n"
        << "    User " << actor.user.name << "+" << entry.target << "\n";
  }
  return out.str();
}

json ssh_config_json(const ControlEnvironment& env, const access::Actor& actor,
                     const std::vector<HostEntry>& entries) {
  json hosts = json::array();
  for (const HostEntry& entry : entries) {
    json grants = json::array();
    for (const access::Grant* g : entry.grants) {
      grants.push_back({{"id", g->id}, {"state", access::to_string(g->state)}});
    }
    hosts.push_back({{"host", host_alias(entry.target)},
                     {"hostname", env.public_host},
                     {"port", env.public_port},
                     {"user", actor.user.name + "+" + entry.target},
                     {"target", entry.target},
                     {"accounts", entry.accounts},
                     {"requestable", entry.requestable},
                     {"grants", grants}});
  }
  return {{"user", actor.user.name},
          {"bastion", {{"host", env.public_host}, {"port", env.public_port}}},
          {"hosts", hosts}};
}

// A grant of `user` on `input`'s target (and login, if named) that `connect` can use or wait
// for: active first, then pending. Extensions are not grants of their own.
const access::Grant* usable_grant(const std::vector<access::Grant>& grants,
                                  const access::RequestInput& input) {
  const access::Grant* pending = nullptr;
  for (const access::Grant& g : grants) {
    if (g.extends || g.target != input.target || (!input.login.empty() && g.login != input.login))
      continue;
    if (g.state == access::GrantState::active) return &g;
    if (g.state == access::GrantState::pending && pending == nullptr) pending = &g;
  }
  return pending;
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
    add_connect();
    add_wait();
    add_config();
    add_whoami();
    add_web_login();
    add_sessions();
    add_kill();
    add_participate("watch", access::ParticipantMode::watch,
                    "watch a running session live (ssh -t; q leaves)");
    add_participate("join", access::ParticipantMode::join,
                    "type into a running session too (ssh -t; Ctrl-] q leaves)");
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
    return access::WorkflowSettings{env_.config.access.approval_timeout, env_.clock.now()};
  }

  ControlReply reply_for(const access::WorkflowResult& result) const {
    ControlReply reply;
    reply.out = json_ ? json_reply(access::grant_json(result.grant)) : outcome_text(result);
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

  // What a requester sees first when a command goes on waiting (or connects at once).
  ControlReply waiting_reply(pqxx::work& tx, const access::Grant& grant, bool connect,
                             bool withdraw_on_interrupt) const {
    ControlReply reply;
    const DecisionView view = view_decision(grant, access::list_approvals(tx, grant.id), -1);
    // Progress goes to stderr, like every other line the bastion adds to a session.
    if (json_) {
      reply.out = json_reply(access::grant_json(grant));
    } else {
      reply.err = "portcullis: " + view.line;
      if (!view.decided && withdraw_on_interrupt) reply.err += " (Ctrl-C withdraws it)";
      reply.err += "\n";
    }
    if (view.decided && !view.approved) {
      reply.exit_status = 1;
      return reply;
    }
    if (view.decided && !connect) return reply;  // `wait` on a request already approved
    reply.follow_up = FollowUp{grant.id, connect, withdraw_on_interrupt, grant.approvals_given};
    return reply;
  }

  void add_connect() {
    CLI::App* sub =
        app_.add_subcommand("connect", "request if needed, wait for approval, open a shell");
    sub->add_option("target", target_, "TARGET or TARGET:LOGIN")->required();
    sub->add_option("--for", for_, "how long, e.g. 30m, 2h (when a request is needed)");
    sub->add_option("--reason", reason_, "why you need access (when a request is needed)");
    sub->add_option("--ticket", ticket_, "change or incident reference");
    commands_["connect"] = [this](pqxx::work& tx, const access::Actor& actor) {
      access::RequestInput input = parse_target(target_);
      const std::vector<access::Grant> grants = access::grants_of(tx, actor.user.name);
      if (const access::Grant* existing = usable_grant(grants, input)) {
        return waiting_reply(tx, *existing, true, existing->state == access::GrantState::pending);
      }
      if (for_.empty() || reason_.empty()) {
        throw UsageError("you hold no grant or request on " + target_ +
                         ": add --for DURATION --reason TEXT to request one");
      }
      input.duration = duration_option(for_);
      input.reason = reason_;
      input.ticket = ticket_;
      access::WorkflowResult result =
          access::request_grant(tx, env_.policy, actor, input, settings());
      ControlReply reply = waiting_reply(tx, result.grant, true, true);
      reply.alerts = std::move(result.alerts);
      return reply;
    };
  }

  void add_wait() {
    CLI::App* sub = app_.add_subcommand("wait", "block until a request is decided");
    sub->add_option("id", id_, "request id")->required();
    commands_["wait"] = [this](pqxx::work& tx, const access::Actor& actor) {
      std::optional<access::Grant> grant = access::find_grant(tx, id_);
      if (!grant || grant->user != actor.user.name) {
        throw access::AccessError("you have no request " + std::to_string(id_) + " (see `grants`)");
      }
      return waiting_reply(tx, *grant, false, false);
    };
  }

  void add_config() {
    app_.add_subcommand("config", "ssh_config lines for every target you can reach");
    commands_["config"] = [this](pqxx::work& tx, const access::Actor& actor) {
      const std::vector<access::Grant> grants = access::grants_of(tx, actor.user.name);
      const std::vector<HostEntry> entries = reachable_targets(tx, env_, actor, grants);
      ControlReply reply;
      reply.out = json_ ? json_reply(ssh_config_json(env_, actor, entries))
                        : ssh_config_text(env_, actor, entries);
      return reply;
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

  void add_web_login() {
    app_.add_subcommand("web-login", "a one-time link that signs you in to the web console");
    commands_["web-login"] = [this](pqxx::work& tx, const access::Actor& actor) {
      if (env_.web_url.empty()) {
        throw access::AccessError(
            "this bastion has no web console; an administrator can turn it on with [web] listen");
      }
      const std::string token =
          web::issue_login_token(tx, actor.user, env_.config.server.node_name, env_.client);
      const std::string url = web::login_url(env_.web_url, token);
      ControlReply reply;
      reply.out = json_
                      ? json_reply(json{{"url", url},
                                        {"expires_in_seconds", web::kLoginLinkLifetime.count()}})
                      : "Open this link within " + std::to_string(web::kLoginLinkLifetime.count()) +
                            " seconds; it signs you in once:\n" + url + "\n";
      return reply;
    };
  }

  void add_sessions() {
    CLI::App* sub = app_.add_subcommand("sessions", "sessions on every node (auditors)");
    sub->add_flag("--active", active_, "only sessions still running");
    commands_["sessions"] = [this](pqxx::work& tx, const access::Actor& actor) {
      return sessions_reply(tx, env_, actor, active_, json_);
    };
  }

  void add_kill() {
    CLI::App* sub = app_.add_subcommand("kill", "end a running session now (auditors)");
    sub->add_option("id", id_, "session id")->required();
    sub->add_option("--reason", reason_, "why; its user is shown it")->required();
    commands_["kill"] = [this](pqxx::work& tx, const access::Actor& actor) {
      return kill_reply(tx, env_, actor, id_, reason_, json_);
    };
  }

  void add_participate(const std::string& name, access::ParticipantMode mode,
                       const std::string& description) {
    CLI::App* sub = app_.add_subcommand(name, description);
    sub->add_option("id", id_, "session id")->required();
    commands_[name] = [this, mode](pqxx::work& tx, const access::Actor& actor) {
      return participate_reply(tx, env_, actor, id_, mode, json_);
    };
  }

  ControlReply list_reply(const std::vector<access::Grant>& grants, std::string table) const {
    ControlReply reply;
    if (!json_) {
      reply.out = std::move(table);
      return reply;
    }
    json array = json::array();
    for (const access::Grant& g : grants) array.push_back(access::grant_json(g));
    reply.out = json_reply(array);
    return reply;
  }

  const ControlEnvironment& env_;
  CLI::App app_{"Portcullis control commands", "ssh USER@BASTION"};
  std::map<std::string, Command> commands_;
  bool json_ = false;
  bool active_ = false;
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

ControlReply failure(const std::string& message, ControlReply::Failure why) {
  ControlReply reply;
  reply.err = "portcullis: " + one_line(message) + "\n";
  reply.exit_status = why == ControlReply::Failure::usage ? 2 : 1;
  reply.failure = why;
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

ControlReply run_args(const ControlEnvironment& env, const access::Actor& actor,
                      const std::vector<std::string>& args) {
  if (args.empty() || args.front() == "help" || args.front() == "--help") {
    return overview(env, actor);
  }
  CommandLine command_line_parser(env);
  Parsed parsed;
  try {
    parsed = command_line_parser.parse(args);
  } catch (const UsageError& e) {
    return failure(e.what(), ControlReply::Failure::usage);
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
    return failure("the access database is unreachable; try again shortly",
                   ControlReply::Failure::unavailable);
  }
  if (!outcome.refused) {
    spdlog::error("user={} control command failed: {}", actor.user.name, outcome.error);
    return failure(
        "the command failed on the bastion; the administrator can find the details in "
        "its log",
        ControlReply::Failure::internal);
  }
  return failure(outcome.error, ControlReply::Failure::refused);
}

ControlReply run_unchecked(const ControlEnvironment& env, const access::Actor& actor,
                           const std::string& command_line) {
  std::vector<std::string> args;
  try {
    args = join_free_text(split_command_line(command_line));
  } catch (const std::invalid_argument& e) {
    return failure(std::string("cannot parse the command: ") + e.what(),
                   ControlReply::Failure::usage);
  }
  return run_args(env, actor, args);
}

// Replies show what other people wrote (reasons, tickets, comments): one neutralisation here
// covers every command. JSON replies are ASCII (dumped with ensure_ascii), so it leaves them
// exactly as they are.
ControlReply inert(ControlReply reply) {
  reply.out = inert_text(reply.out);
  reply.err = inert_text(reply.err);
  return reply;
}

}  // namespace

DecisionView view_decision(const access::Grant& grant,
                           const std::vector<access::Approval>& approvals, int shown_approvals) {
  DecisionView view;
  std::string news;
  // Approvals given since the requester last looked (none when the first line is shown).
  for (std::size_t i = static_cast<std::size_t>(std::max(shown_approvals, 0));
       shown_approvals >= 0 && i < approvals.size(); ++i) {
    news += (news.empty() ? "approved by " : ", ") + approvals[i].approver;
  }
  if (!news.empty()) news += "; ";
  const std::string name = what(grant);
  switch (grant.state) {
    case access::GrantState::pending:
      view.line = name + ": " + news + "waiting for " +
                  std::to_string(grant.approvals_needed - grant.approvals_given) + " of " +
                  std::to_string(grant.approvals_needed) + " approvals (rule " + grant.policy +
                  ")...";
      return view;
    case access::GrantState::active:
      view.line = name + ": " + news + "active until " + format_rfc3339(grant.expires_at);
      view.approved = true;
      break;
    case access::GrantState::denied:
      view.line = name + ": denied by " + grant.denied_by + ": " + one_line(grant.deny_reason);
      break;
    case access::GrantState::revoked:
      view.line = name + (grant.has_window() ? ": revoked" : ": withdrawn") +
                  (grant.revoke_reason.empty() ? "" : ": " + one_line(grant.revoke_reason));
      break;
    case access::GrantState::expired:
      view.line = grant.has_window() ? name + ": expired at " + format_rfc3339(grant.expires_at)
                                     : name + ": lapsed without enough approvals";
      break;
  }
  view.decided = true;
  return view;
}

ControlReply run_control_command(const ControlEnvironment& env, const access::Actor& actor,
                                 const std::string& command_line) {
  return inert(run_unchecked(env, actor, command_line));
}

ControlReply run_control_args(const ControlEnvironment& env, const access::Actor& actor,
                              const std::vector<std::string>& args) {
  return inert(run_args(env, actor, args));
}

}  // namespace portcullis::proxy
