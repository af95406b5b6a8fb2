// The libssh work the CLI does: making the bastion's host key, reading key files given
// on the command line, and fetching a target's host key to pin it.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace portcullis::cli {

// Writes a new Ed25519 private key in OpenSSH format (0600) at `path` and its public
// half at `path`.pub; returns the public key's fingerprint.
std::string create_host_key(const std::filesystem::path& path);

// The OpenSSH public key lines (blank lines and # comments skipped) of a file.
std::vector<std::string> read_public_keys(const std::string& path);

// Throws UsageError unless `contents` is an unencrypted private key libssh can load.
void check_private_key(const std::string& contents, const std::string& path);

// Connects to host:port and returns the server's host key as "type base64",
// preferring Ed25519. Does not log in.
std::string scan_host_key(const std::string& host, std::uint16_t port,
                          std::chrono::seconds timeout);

}  // namespace portcullis::cli
