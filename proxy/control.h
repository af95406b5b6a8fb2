// Control commands: what `ssh alice@bastion COMMAND ...` runs instead of a target session
// (request, approve, grants, ...). Runs on a worker thread; the session writes the reply.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "access/workflow.h"
#include "common/common.h"
#include "proxy/worker_pool.h"

namespace portcullis::proxy {

struct ControlReply {
  std::string out;
  std::string err;
  int exit_status = 0;
  std::vector<access::AlertEvent> alerts;  // to send once the change is committed
};

struct ControlEnvironment {
  WorkerPool& workers;
  const access::Policy& policy;
  const Config& config;
};

// Splits a command line as a POSIX shell would split words ('single', "double" with \" \\ \$
// escapes, backslash outside quotes), without expanding or executing anything. Throws
// std::invalid_argument for an unterminated quote or a trailing backslash.
std::vector<std::string> split_command_line(std::string_view line);

// Parses and runs one control command for `actor`. Blocking: call from a worker thread.
// Never throws: every failure becomes a reply with a message and a non-zero status.
ControlReply run_control_command(const ControlEnvironment& env, const access::Actor& actor,
                                 const std::string& command_line);

}  // namespace portcullis::proxy
