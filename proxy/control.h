// Control commands: what `ssh alice@bastion COMMAND ...` runs instead of a target session
// (request, approve, grants, ...). Runs on a worker thread; the session writes the reply.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "access/oversight.h"
#include "access/workflow.h"
#include "common/common.h"
#include "proxy/database_clock.h"
#include "proxy/worker_pool.h"
#include "settings/running.h"
#include "settings/settings.h"

namespace portcullis::proxy {

// What the session does after writing a reply instead of ending: wait until a request is
// decided (`wait`), and then open a shell on its target (`connect`).
struct FollowUp {
  std::int64_t grant_id = 0;
  bool connect = false;                // a shell on the grant's target once it is active
  bool withdraw_on_interrupt = false;  // Ctrl-C (or leaving) withdraws the request
  int approvals_given = 0;             // as last shown, so each approval is told once
};

// What the session does after writing a reply instead of ending: show another session live
// (`watch`, `join`) until the watcher leaves or that session ends.
struct WatchFollowUp {
  access::Participant participant;  // already in the database, audited and announced
  access::WatchedSession watched;
  bool may_kill = false;  // Ctrl-] k: the watcher holds a role in [oversight] kill_roles
};

struct ControlReply {
  // Why a command failed, for callers that answer in other terms than an exit status (the
  // web console's HTTP statuses).
  enum class Failure { none, usage, refused, unavailable, internal };
  std::string out;
  std::string err;
  int exit_status = 0;
  Failure failure = Failure::none;
  std::vector<access::AlertEvent> alerts;  // to send once the change is committed
  std::optional<FollowUp> follow_up;       // set: the command goes on after this reply
  std::optional<WatchFollowUp> watch;      // set: a live view follows this reply
};

struct ControlEnvironment {
  WorkerPool& workers;
  const DatabaseClock& clock;  // hours are checked, and time left shown, by the database's clock
  const access::Policy& policy;
  const Config& config;
  // How engineers reach this bastion ([server] public_address, else the address the client
  // connected to), for the lines `config` prints.
  std::string public_host;
  std::uint16_t public_port = 22;
  bool terminal = false;  // the client asked for a pty (`ssh -t`): live views need one
  // What `policy` and `config` belong to, kept alive while the command runs; they are the
  // config of the moment the command started, even if a reload replaces it meanwhile.
  std::shared_ptr<const RunningConfig> running = nullptr;
  // Where sign-in links (`web-login`) point: web::console_base_url; "" = no console.
  std::string web_url{};
  std::string client{};  // the address the command came from, for the audit
};

// Where a request stands, for a requester waiting on it (`wait`, `connect`): one line, and
// whether it is decided. Shared by the command and the session that keeps waiting.
struct DecisionView {
  std::string line;       // "request 17 (alice on db01:postgres): waiting for 1 of 2 ..."
  bool decided = false;   // active, denied, lapsed or withdrawn
  bool approved = false;  // decided and active
};
DecisionView view_decision(const access::Grant& grant,
                           const std::vector<access::Approval>& approvals, int shown_approvals);

// Splits a command line as a POSIX shell would split words ('single', "double" with \" \\ \$
// escapes, backslash outside quotes), without expanding or executing anything. Throws
// std::invalid_argument for an unterminated quote or a trailing backslash.
std::vector<std::string> split_command_line(std::string_view line);

// Parses and runs one control command for `actor`. Blocking: call from a worker thread.
// Never throws: every failure becomes a reply with a message and a non-zero status.
ControlReply run_control_command(const ControlEnvironment& env, const access::Actor& actor,
                                 const std::string& command_line);
// The same for a command already split into words (the web console's), taken exactly as given.
ControlReply run_control_args(const ControlEnvironment& env, const access::Actor& actor,
                              const std::vector<std::string>& args);

}  // namespace portcullis::proxy
