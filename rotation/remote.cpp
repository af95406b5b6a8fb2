#include "rotation/remote.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <optional>

#include "common/common.h"

namespace portcullis::rotation {
namespace {

using Clock = std::chrono::steady_clock;

// The most a remote command may print; an authorized_keys file is far smaller.
constexpr std::size_t kMaxOutput = 1 << 20;
// What a message quotes of a command's output.
constexpr std::size_t kQuoted = 300;

struct ChannelDeleter {
  void operator()(ssh_channel channel) const {
    ssh_channel_close(channel);
    ssh_channel_free(channel);
  }
};
// Closed and freed before the session that owns it.
using Channel = std::unique_ptr<ssh_channel_struct, ChannelDeleter>;

Channel open_command(ssh_session session, const std::string& command, bool pty) {
  Channel channel(ssh_channel_new(session));
  if (!channel || ssh_channel_open_session(channel.get()) != SSH_OK) {
    throw RemoteError(std::string("cannot open a channel on the target: ") +
                      ssh_get_error(session));
  }
  // Wide, so passwd's prompts arrive on one line each.
  if (pty && ssh_channel_request_pty_size(channel.get(), "dumb", 200, 24) != SSH_OK) {
    throw RemoteError("the target refused a terminal for passwd");
  }
  if (ssh_channel_request_exec(channel.get(), command.c_str()) != SSH_OK) {
    throw RemoteError("the target refused to run a command: " + command);
  }
  return channel;
}

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

// Appends what arrives on one stream within the deadline to `out`; false at end of stream.
bool read_some(ssh_channel channel, bool stderr_stream, Clock::time_point deadline,
               std::string& out) {
  char buffer[4096];
  const int n = ssh_channel_read_timeout(channel, buffer, sizeof buffer, stderr_stream ? 1 : 0,
                                         std::max(remaining_ms(deadline), 1));
  if (n == SSH_ERROR) throw RemoteError("the connection to the target broke during a command");
  out.append(buffer, static_cast<std::size_t>(n));
  if (out.size() > kMaxOutput) throw RemoteError("a command on the target printed too much");
  if (n > 0) return true;
  if (ssh_channel_is_eof(channel) != 0) return false;
  if (Clock::now() >= deadline) throw RemoteError("a command on the target did not finish in time");
  return true;
}

void write_all(ssh_channel channel, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const int n = ssh_channel_write(channel, data.data() + sent,
                                    static_cast<std::uint32_t>(data.size() - sent));
    if (n == SSH_ERROR) throw RemoteError("the connection to the target broke during a command");
    sent += static_cast<std::size_t>(n);
  }
}

struct Finished {
  int exit_status = -1;
  std::string out;
  std::string err;
};

Finished run(ssh_session session, const std::string& command, const std::string& input,
             std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Channel channel = open_command(session, command, false);
  write_all(channel.get(), input);
  ssh_channel_send_eof(channel.get());
  Finished finished;
  while (read_some(channel.get(), false, deadline, finished.out)) {
  }
  while (read_some(channel.get(), true, deadline, finished.err)) {
  }
  finished.exit_status = ssh_channel_get_exit_status(channel.get());
  return finished;
}

std::string quoted_output(const std::string& text) {
  return one_line(inert_line(text.substr(text.size() > kQuoted ? text.size() - kQuoted : 0)));
}

// The password prompts passwd shows, in the C locale (the command sets it).
enum class Prompt { current, next, repeat };

std::optional<Prompt> prompt_in(const std::string& screen) {
  std::string text = screen;
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())) != 0) {
    text.pop_back();
  }
  if (text.empty() || text.back() != ':') return std::nullopt;
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  const std::string line = text.substr(text.find_last_of('\n') + 1);
  if (line.find("retype") != line.npos || line.find("again") != line.npos ||
      line.find("re-enter") != line.npos) {
    return Prompt::repeat;
  }
  if (line.find("new") != line.npos) return Prompt::next;
  if (line.find("password") != line.npos) return Prompt::current;
  return std::nullopt;
}

// Answers one prompt, once: a prompt seen again means passwd refused what it was given.
class PasswdDialogue {
 public:
  PasswdDialogue(const vault::Secret& current, const vault::Secret& next)
      : current_(current), next_(next) {}

  // The answer to what `screen` ends with, if it ends with a prompt.
  const vault::Secret* answer(const std::string& screen) {
    const std::optional<Prompt> prompt = prompt_in(screen);
    if (!prompt) return nullptr;
    bool& seen = answered_[static_cast<int>(*prompt)];
    if (seen) {
      throw RemoteError("passwd on the target refused the change: " + quoted_output(transcript_));
    }
    seen = true;
    return *prompt == Prompt::current ? &current_ : &next_;
  }
  bool gave_new_password() const { return answered_[static_cast<int>(Prompt::repeat)]; }
  // The end of what passwd said is kept: that is where it says why it failed.
  void heard(const std::string& text) {
    transcript_ += text;
    if (transcript_.size() > kQuoted) transcript_.erase(0, transcript_.size() - kQuoted);
  }
  const std::string& transcript() const { return transcript_; }

 private:
  const vault::Secret& current_;
  const vault::Secret& next_;
  bool answered_[3] = {false, false, false};
  std::string transcript_;  // prompts and messages only: passwd does not echo passwords
};

}  // namespace

std::string read_remote_file(ssh_session session, const std::string& path,
                             std::chrono::seconds timeout) {
  Finished read = run(session, "cat -- '" + path + "'", "", timeout);
  if (read.exit_status != 0) {
    throw RemoteError("cannot read " + path + " on the target: " + quoted_output(read.err));
  }
  return read.out;
}

void replace_remote_file(ssh_session session, const std::string& path, const std::string& text,
                         std::chrono::seconds timeout) {
  // The length check: a channel cut mid-way ends cat's input early, and a truncated file must
  // never replace the real one.
  const std::string command =
      "f='" + path + "'; t=$(mktemp \"$f.portcullis-XXXXXX\") || exit 1; " +
      "if cat > \"$t\" && [ \"$(wc -c < \"$t\")\" -eq " + std::to_string(text.size()) +
      " ] && chmod --reference=\"$f\" -- \"$t\" && mv -f -- \"$t\" \"$f\"; then exit 0; fi; " +
      "rm -f -- \"$t\"; exit 1";
  Finished replaced = run(session, command, text, timeout);
  if (replaced.exit_status != 0) {
    throw RemoteError("cannot replace " + path + " on the target: " + quoted_output(replaced.err));
  }
}

void run_passwd(ssh_session session, const vault::Secret& current, const vault::Secret& next,
                std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  Channel channel = open_command(session, "LC_ALL=C passwd", true);
  PasswdDialogue dialogue(current, next);
  std::string screen;  // what passwd showed since the last answer
  while (true) {
    std::string arrived;
    const bool open = read_some(channel.get(), false, deadline, arrived);
    screen += arrived;
    dialogue.heard(arrived);
    if (!open) break;
    if (const vault::Secret* answer = dialogue.answer(screen)) {
      write_all(channel.get(), answer->reveal());  // no copy of the secret to wipe
      write_all(channel.get(), "\n");
      screen.clear();
    }
  }
  const int status = ssh_channel_get_exit_status(channel.get());
  if (status != 0 || !dialogue.gave_new_password()) {
    throw RemoteError("passwd on the target failed (exit status " + std::to_string(status) +
                      "): " + quoted_output(dialogue.transcript()));
  }
}

}  // namespace portcullis::rotation
