// Public interface of the `common` library: durations, times, text, logging, files. Reading the
// config file is common/config.h.
// No project dependencies; every other library may include this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/unique_fd.h"

namespace portcullis {

// "30s", "15m", "8h", "1h30m", "2d". Throws std::invalid_argument with a clear message;
// zero, negative and longer than 3660d (ten years) are refused.
std::chrono::seconds parse_duration(std::string_view text);
// Inverse of parse_duration for display: 5400s -> "1h30m", 0 -> "0s".
std::string format_duration(std::chrono::seconds d);

// RFC 3339 UTC with second precision: "2026-11-25T05:00:00Z".
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// Parses "HOST:PORT" ("[::1]:22" for IPv6). Throws std::invalid_argument.
struct HostPort {
  std::string host;
  std::uint16_t port;
};
HostPort parse_host_port(std::string_view text);

// Collapses every run of whitespace (newlines included) into one space and trims the ends,
// so a library's multi-line message prints as one line.
std::string one_line(std::string_view text);

// Text from outside (a peer's packet, a requester's reason, a recorded line) is UTF-8 only if
// checked: overlong forms, surrogates and code points above U+10FFFF are invalid.
bool is_valid_utf8(std::string_view text);

// Valid UTF-8 for logs, JSON and the database: every byte that is not part of a valid UTF-8
// sequence becomes the four characters "\xNN". Valid input comes back unchanged.
std::string escape_invalid_utf8(std::string_view text);

// Text one person wrote, made inert before it is shown on another person's terminal: C0
// controls other than tab and newline, DEL, ESC and C1 controls (U+0080-U+009F) are written
// visibly ("\x1b", "\u009b"), and so is every byte that is not valid UTF-8 ("\xff"). Printable
// text, tabs and newlines pass unchanged.
std::string inert_text(std::string_view text);
// The same for a value shown on one line (a table cell, a log field): tab, CR and newline are
// escaped too ("\t", "\r", "\n").
std::string inert_line(std::string_view text);

// Lower-case hex of raw bytes (a hash, a signature): to_hex("\x01\xab") == "01ab".
std::string to_hex(std::string_view bytes);

// The items with `separator` between them: join({"a", "b"}, ", ") == "a, b".
std::string join(const std::vector<std::string>& items, std::string_view separator);

// Sets up spdlog's default logger (stderr, UTC, "%Y-%m-%dT%H:%M:%S.%eZ %l %v"); may be called
// again. Throws std::invalid_argument for a level other than trace, debug, info, warn, error.
void init_logging(std::string_view level);

// No core file and no ptrace by other processes of the same user (RLIMIT_CORE 0,
// PR_SET_DUMPABLE 0): called by portcullisd and every CLI command that holds a secret key, so
// the keys in memory never reach a disk. Throws std::system_error.
void disable_core_dumps();

// Writes `contents` to `path` created with mode 0600 (fails if it exists), fsynced. Throws
// std::system_error ("cannot create PATH: File exists", code std::errc::file_exists).
void write_private_file(const std::filesystem::path& path, std::string_view contents);

// Writes all of `bytes` to `fd`, retrying short writes. Throws std::system_error ("cannot write
// PATH: reason").
void write_all(const UniqueFd& fd, std::string_view bytes, const std::filesystem::path& path);

// fsync of a folder: makes a new directory entry itself durable, not only the file's contents.
// Throws std::system_error.
void sync_directory(const std::filesystem::path& dir);

}  // namespace portcullis
