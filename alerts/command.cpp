#include <spdlog/spdlog.h>

#include <algorithm>
#include <string>

#include "alerts/alerts.h"
#include "alerts/channel.h"
#include "common/program.h"

namespace portcullis::alerts {
namespace {

// How much of the command's stdout and of its stderr is kept for the log.
constexpr std::size_t kOutputKept = 2048;

// `/bin/sh -c command` with the alert JSON as one line on its stdin, so `cat >> alerts.jsonl`
// or `read line` just work. The daemon's own environment may hold secrets (database URL,
// tokens): the command gets only PATH and the alert's kind and id.
ProgramRun run_command(const std::string& command, const Alert& alert, Clock::time_point time_limit,
                       const Deadline& deadline) {
  Program program;
  program.argv = {"/bin/sh", "-c", command};
  program.environment = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin",
                         "PORTCULLIS_ALERT_KIND=" + alert.kind, "PORTCULLIS_ALERT_ID=" + alert.id};
  program.input = alert.json + "\n";
  program.kept = kOutputKept;
  return run_program(program, [&] { return std::min(time_limit, deadline.at()); });
}

class CommandChannel : public Channel {
 public:
  CommandChannel(std::string command, std::chrono::milliseconds timeout)
      : command_(std::move(command)), timeout_(timeout) {}

  // The command itself may hold a token: it never appears in the log.
  std::string name() const override { return "command"; }

  bool deliver(const Alert& alert, const Deadline& deadline) override {
    const ProgramRun result = run_command(command_, alert, Clock::now() + timeout_, deadline);
    if (result.status == 0) {
      spdlog::info("alert id={} kind={} delivered to command", alert.id, alert.kind);
      return true;
    }
    std::string what;
    if (result.status) {
      what = describe_wait_status(*result.status);
    } else if (deadline.passed()) {
      what = "killed when shutting down";
    } else {
      what = "killed after running for " + describe(timeout_) + " (time limit)";
    }
    spdlog::error("alert id={} kind={} command failed: {}; stdout: \"{}\"; stderr: \"{}\"",
                  alert.id, alert.kind, what, one_line(result.out), one_line(result.err));
    return false;
  }

 private:
  std::string command_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<Channel> make_command_channel(const AlertsConfig& config,
                                              const DispatcherOptions& options) {
  return std::make_unique<CommandChannel>(config.command, options.command_timeout);
}

}  // namespace portcullis::alerts
