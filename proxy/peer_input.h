// The one boundary for what a client sends: every field the gateway reads from a client's SSH
// messages (user name, channel type and forwarding destination, pty size and terminal, env,
// exec command line, subsystem, signal names, service names) is read and checked here, and the
// rest of the gateway only ever sees the checked values.
//
// libssh 0.10 marks several of these accessors deprecated (in favour of callbacks that cannot
// defer a reply); the gateway needs deferred replies, so the deprecation is contained here too.
#pragma once

#include <libssh/libssh.h>
#include <libssh/server.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::proxy::peer {

// Limits on what a client may ask for; beyond them a request is refused (or a size clamped).
inline constexpr int kMaxTerminalCols = 1000;
inline constexpr int kMaxTerminalRows = 1000;
inline constexpr int kMaxPixels = 65535;
inline constexpr std::size_t kMaxLoginNameBytes = 256;
inline constexpr std::size_t kMaxTermBytes = 64;
inline constexpr std::size_t kMaxEnvNameBytes = 64;
inline constexpr std::size_t kMaxEnvValueBytes = 4096;
inline constexpr int kMaxEnvRequests = 64;
inline constexpr std::size_t kMaxCommandBytes = std::size_t{64} * 1024;
inline constexpr std::size_t kMaxSubsystemBytes = 64;
inline constexpr std::size_t kMaxSignalBytes = 16;

// A field as the peer sent it, fit for a log line or a JSON value: controls and bytes that are
// not UTF-8 escaped, cut to `max_bytes` (with "..." and the full size when cut). Null = "".
std::string printable(const char* raw, std::size_t max_bytes = 200);
std::string printable(std::string_view raw, std::size_t max_bytes = 200);

// A value that passed its checks, or why it did not (a sentence for the client and the audit
// log; it names the limit, never echoes the raw field).
template <typename T>
struct Checked {
  std::optional<T> value;
  std::string refusal;
  bool ok() const { return value.has_value(); }
};

// The user name of an authentication request: at most kMaxLoginNameBytes of UTF-8 without
// controls. Anything else is refused before it reaches a log, the parser or the database.
Checked<std::string> login_name(ssh_message message);

struct AuthPublicKey {
  ssh_key key = nullptr;  // owned by the message
  enum ssh_publickey_state_e state = SSH_PUBLICKEY_STATE_NONE;
};
AuthPublicKey auth_public_key(ssh_message message);

// pty-req and window-change carry the same size fields. Sizes are clamped to 1..kMaxTerminal*
// (0 or 65535 columns would reach the target, the recording and the auditor's libvterm).
struct TerminalSize {
  int cols = 80;
  int rows = 24;
  int px_width = 0;
  int px_height = 0;
  bool clamped = false;   // the client asked for something outside the limits
  std::string requested;  // what it asked for, "COLSxROWS", when clamped
};
TerminalSize terminal_size(ssh_message message);

// The TERM of a pty-req: printable ASCII, at most kMaxTermBytes.
Checked<std::string> terminal_type(ssh_message message);

struct EnvVariable {
  std::string name;
  std::string value;
};
// An env request: name and value UTF-8 without controls, within their limits.
Checked<EnvVariable> env_variable(ssh_message message);

// The command line of an exec request, at most kMaxCommandBytes. Its bytes are passed to the
// target exactly as sent (a shell command may hold any byte but NUL); show it with printable().
Checked<std::string> exec_command(ssh_message message);

// A subsystem name ("sftp"): at most kMaxSubsystemBytes of letters, digits and "@._-".
Checked<std::string> subsystem_name(ssh_message message);

// A signal name from a "signal" channel request ("INT", "TERM"): upper-case letters and
// digits, at most kMaxSignalBytes; nullopt otherwise.
std::optional<std::string> signal_name(const char* raw);

// The service of a service request; "" when absent.
std::string service_name(ssh_message message);

// Where a direct-tcpip or forwarded-tcpip channel-open wanted to go, for the refusal's log line
// and audit row: the host already printable.
struct ForwardingTarget {
  std::string host;
  int port = 0;
};
ForwardingTarget forwarding_target(ssh_message message);

// The channel type named by a channel-open, for refusals: "session", "direct-tcpip", ...
std::string channel_type(ssh_message message);

}  // namespace portcullis::proxy::peer
