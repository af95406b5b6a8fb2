// `portcullis session watch ID`: a running session's screen, live, on the administrator's
// terminal, from whichever node holds it (the daemons ship chunks to PostgreSQL as they are cut).
#include <iostream>
#include <thread>

#include "access/oversight.h"
#include "cli/cli.h"
#include "cli/terminal_ui.h"
#include "oversight/watcher.h"

namespace portcullis::cli {
namespace {

class CliWatch {
 public:
  CliWatch(Context& context, oversight::Watcher& watcher) : context_(context), watcher_(watcher) {}

  // Until the session ends, `q`, Ctrl-C, or the view cannot go on; returns what to print.
  std::string run() {
    RawTerminal raw("session watch needs a terminal");
    TerminalSize viewer = viewer_size();
    auto next_look = std::chrono::steady_clock::now();
    while (!interrupted) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_look) {
        look(now);
        next_look = now + oversight::kWatchTick;
      }
      if (std::optional<std::string> done = watcher_.finished(now)) return *done;
      if (viewer_resized) {
        viewer_resized = 0;
        viewer = viewer_size();
      }
      if (std::optional<std::string> frame = watcher_.next_frame(viewer.cols, viewer.rows)) {
        std::cout << *frame << std::flush;
        watcher_.frame_drawn();
      }
      for (const player::WatchKeys::Action& action : watcher_.keys(
               read_keys(std::chrono::duration_cast<std::chrono::milliseconds>(next_look - now)))) {
        if (action.kind == player::WatchKeys::Action::Kind::quit) return "";
        if (action.kind == player::WatchKeys::Action::Kind::kill) kill(action.text);
      }
    }
    return "";
  }

 private:
  void look(std::chrono::steady_clock::time_point now) {
    const oversight::LookRequest request = watcher_.next_look(now);
    try {
      oversight::WatchUpdate update;
      context_.transact([&](pqxx::work& tx) { update = oversight::look(tx, request); });
      watcher_.apply(std::move(update), now);
    } catch (const std::exception& e) {
      // The database went away for a moment: keep the last screen and say so.
      watcher_.set_notice(std::string("cannot read the session: ") + one_line(e.what()));
    }
  }

  void kill(const std::string& reason) {
    try {
      context_.transact([&](pqxx::work& tx) {
        access::request_session_kill(tx, context_.actor(), watcher_.participant().session_id,
                                     reason);
      });
      watcher_.set_notice("asked the bastion to end the session");
    } catch (const std::exception& e) {
      watcher_.set_notice(std::string("cannot end the session: ") + one_line(e.what()));
    }
  }

  Context& context_;
  oversight::Watcher& watcher_;
};

void watch_session(Context& context, std::int64_t id) {
  const access::ParticipantIdentity who{access::actor_name(context.actor()), "admin",
                                        context.actor()};
  std::optional<access::Participant> participant;
  std::optional<access::WatchedSession> watched;
  context.transact([&](pqxx::work& tx) {
    participant = access::start_participating(tx, who, id, access::ParticipantMode::watch, "cli");
    watched = access::find_watched_session(tx, id);
  });
  oversight::Watcher watcher(*participant, *watched, true);
  // However the view ends, the watched user is told the watcher left.
  const auto leave = [&] {
    context.transact(
        [&](pqxx::work& tx) { access::stop_participating(tx, participant->id, context.actor()); });
  };
  std::string said;
  try {
    said = CliWatch(context, watcher).run();
  } catch (...) {
    leave();
    throw;
  }
  leave();
  if (!said.empty()) std::cout << said << "\n";
}

}  // namespace

void add_session_watch_command(CLI::App& session, Action& chosen) {
  auto id = std::make_shared<std::int64_t>(0);
  CLI::App* watch = session.add_subcommand(
      "watch", "Watch a running session live (q leaves, Ctrl-] k ends the session)");
  watch->add_option("ID", *id, "Session id")->required();
  watch->callback([&chosen, id] { chosen = [id](Context& c) { watch_session(c, *id); }; });
}

}  // namespace portcullis::cli
