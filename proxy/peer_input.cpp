#include "proxy/peer_input.h"

#include <algorithm>
#include <cctype>

#include "common/common.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace portcullis::proxy::peer {
namespace {

std::string_view view(const char* raw) { return raw != nullptr ? raw : std::string_view(); }

bool has_controls(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte == 0x7F;
  });
}

// UTF-8, no controls, 1..max_bytes: what a name or a value shown to people may be.
bool is_plain_text(std::string_view text, std::size_t max_bytes) {
  return !text.empty() && text.size() <= max_bytes && is_valid_utf8(text) && !has_controls(text) &&
         inert_line(text) == text;  // no C1 controls either
}

int clamp_dimension(int value, int limit) { return std::clamp(value, 1, limit); }

template <typename T>
Checked<T> refused(std::string why) {
  return Checked<T>{std::nullopt, std::move(why)};
}

std::string too_long(std::string_view what, std::size_t limit) {
  return std::string(what) + " is longer than " + std::to_string(limit) + " bytes";
}

}  // namespace

std::string printable(std::string_view raw, std::size_t max_bytes) {
  if (raw.size() <= max_bytes) return inert_line(raw);
  // Cut on a byte boundary: a sequence broken in two is escaped like any other bad byte.
  return inert_line(raw.substr(0, max_bytes)) + "... (" + std::to_string(raw.size()) + " bytes)";
}

std::string printable(const char* raw, std::size_t max_bytes) {
  return printable(view(raw), max_bytes);
}

Checked<std::string> login_name(ssh_message message) {
  const std::string_view name = view(ssh_message_auth_user(message));
  if (!is_plain_text(name, kMaxLoginNameBytes)) {
    return refused<std::string>("the user name is empty, longer than " +
                                std::to_string(kMaxLoginNameBytes) +
                                " bytes, not UTF-8 or holds control characters");
  }
  return Checked<std::string>{std::string(name), {}};
}

AuthPublicKey auth_public_key(ssh_message message) {
  return AuthPublicKey{ssh_message_auth_pubkey(message), ssh_message_auth_publickey_state(message)};
}

TerminalSize terminal_size(ssh_message message) {
  // libssh reads these uint32 fields into ints: 2^32-1 arrives as -1.
  const int cols = ssh_message_channel_request_pty_width(message);
  const int rows = ssh_message_channel_request_pty_height(message);
  TerminalSize size;
  size.cols = clamp_dimension(cols, kMaxTerminalCols);
  size.rows = clamp_dimension(rows, kMaxTerminalRows);
  size.px_width = std::clamp(ssh_message_channel_request_pty_pxwidth(message), 0, kMaxPixels);
  size.px_height = std::clamp(ssh_message_channel_request_pty_pxheight(message), 0, kMaxPixels);
  if (size.cols != cols || size.rows != rows) {
    size.clamped = true;
    // As the client meant them: unsigned, as on the wire.
    size.requested = std::to_string(static_cast<std::uint32_t>(cols)) + "x" +
                     std::to_string(static_cast<std::uint32_t>(rows));
  }
  return size;
}

Checked<std::string> terminal_type(ssh_message message) {
  const std::string_view term = view(ssh_message_channel_request_pty_term(message));
  const bool plain =
      term.size() <= kMaxTermBytes && std::all_of(term.begin(), term.end(), [](char c) {
        return std::isgraph(static_cast<unsigned char>(c)) != 0;
      });
  if (!plain) {
    return refused<std::string>("the terminal type must be at most " +
                                std::to_string(kMaxTermBytes) + " printable ASCII characters");
  }
  return Checked<std::string>{std::string(term.empty() ? "xterm" : term), {}};
}

Checked<EnvVariable> env_variable(ssh_message message) {
  const std::string_view name = view(ssh_message_channel_request_env_name(message));
  const std::string_view value = view(ssh_message_channel_request_env_value(message));
  if (!is_plain_text(name, kMaxEnvNameBytes)) {
    return refused<EnvVariable>("an environment variable name must be 1 to " +
                                std::to_string(kMaxEnvNameBytes) +
                                " bytes of UTF-8 without control characters");
  }
  if (value.size() > kMaxEnvValueBytes) {
    return refused<EnvVariable>(too_long("the value of " + printable(name), kMaxEnvValueBytes));
  }
  if (!value.empty() && !is_plain_text(value, kMaxEnvValueBytes)) {
    return refused<EnvVariable>("the value of " + printable(name) +
                                " is not UTF-8 or holds control characters");
  }
  return Checked<EnvVariable>{EnvVariable{std::string(name), std::string(value)}, {}};
}

Checked<std::string> exec_command(ssh_message message) {
  const std::string_view command = view(ssh_message_channel_request_command(message));
  if (command.size() > kMaxCommandBytes) {
    return refused<std::string>(too_long("the command line", kMaxCommandBytes));
  }
  return Checked<std::string>{std::string(command), {}};
}

Checked<std::string> subsystem_name(ssh_message message) {
  const std::string_view name = view(ssh_message_channel_request_subsystem(message));
  if (name.size() > kMaxSubsystemBytes) {
    return refused<std::string>(too_long("the subsystem name", kMaxSubsystemBytes));
  }
  const bool plain = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 ||
           std::string_view("@._-").find(c) != std::string_view::npos;
  });
  if (!plain) {
    return refused<std::string>("a subsystem name may hold only letters, digits and '@._-'");
  }
  return Checked<std::string>{std::string(name), {}};
}

std::optional<std::string> signal_name(const char* raw) {
  const std::string_view name = view(raw);
  const bool plain = !name.empty() && name.size() <= kMaxSignalBytes &&
                     std::all_of(name.begin(), name.end(), [](char c) {
                       return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                     });
  if (!plain) return std::nullopt;
  return std::string(name);
}

std::string service_name(ssh_message message) {
  return std::string(view(ssh_message_service_service(message)));
}

ForwardingTarget forwarding_target(ssh_message message) {
  return ForwardingTarget{printable(ssh_message_channel_request_open_destination(message)),
                          ssh_message_channel_request_open_destination_port(message)};
}

std::string channel_type(ssh_message message) {
  switch (ssh_message_subtype(message)) {
    case SSH_CHANNEL_SESSION:
      return "session";
    case SSH_CHANNEL_DIRECT_TCPIP:
      return "direct-tcpip";
    case SSH_CHANNEL_FORWARDED_TCPIP:
      return "forwarded-tcpip";
    case SSH_CHANNEL_X11:
      return "x11";
    case SSH_CHANNEL_AUTH_AGENT:
      return "auth-agent@openssh.com";
    default:
      return "unknown";
  }
}

}  // namespace portcullis::proxy::peer
