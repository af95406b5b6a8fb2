// `portcullis recording get`, `portcullis verify` and `portcullis node pubkey`: the auditor's
// evidence commands. `verify FILE` reads only the file (and a key): no database connection.
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/cli.h"
#include "cli/recording_source.h"
#include "recorder/keys.h"
#include "recorder/reader.h"
#include "settings/settings.h"

namespace portcullis::cli {
namespace {

// This node's public key: from the .pub file beside the signing key, which is made from the
// secret key the first time (an install older than the file). A missing or malformed key file
// is a config problem, not a bad recording.
recorder::PublicKey node_public_key(const Context& context) {
  const auto& signing_key = context.config().recording.signing_key;
  // Only when the secret must be read to make the .pub file: keep it out of any core file.
  if (!std::filesystem::exists(recorder::public_key_file(signing_key))) disable_core_dumps();
  try {
    return recorder::load_public_key(signing_key, context.config().server.node_name);
  } catch (const recorder::RecordingError& e) {
    throw ConfigError(e.what());
  }
}

// The key among `known` that the recording names, if any.
std::optional<recorder::PublicKey> key_named(const recorder::Header& header,
                                             const std::vector<recorder::PublicKey>& known) {
  for (const recorder::PublicKey& key : known) {
    if (recorder::fingerprint(key) == header.node_key_fingerprint) return key;
  }
  return std::nullopt;
}

void get_recording(Context& context, std::int64_t id, const std::string& output) {
  const std::string bytes = load_stored_recording(context, id);
  const recorder::ParsedRecording parsed = recorder::parse(bytes);
  write_private_file(output, bytes);
  std::cout << "wrote the recording of session " << id << " to " << output << ": "
            << parsed.chunks.size() << " chunks, " << bytes.size() << " bytes, "
            << (parsed.trailer ? "complete" : "incomplete (no trailer)") << '\n';
}

struct VerifyOptions {
  std::string what;  // session id or file
  std::string pubkey_file;
};

void verify(Context& context, const VerifyOptions& options) {
  const std::vector<recorder::PublicKey> known = known_node_keys(context, options.pubkey_file);
  const auto [name, bytes] = load_recording(context, options.what);
  recorder::ParsedRecording parsed;
  try {
    parsed = recorder::parse(bytes);
  } catch (const recorder::RecordingError& e) {
    throw VerifyFailed(name + ": " + e.what());
  }
  const std::optional<recorder::PublicKey> key = key_named(parsed.header, known);
  const recorder::Verification v = recorder::verify(parsed, key);
  if (!v.intact || !v.complete) throw VerifyFailed(inert_line(name) + ": " + v.problem);
  if (!key) {
    throw VerifyFailed(inert_line(name) + ": not signed by a known node key: the recording names " +
                       inert_line(parsed.header.node_key_fingerprint) +
                       (options.pubkey_file.empty()
                            ? ", which is not in the database (node_keys) nor this node's .pub file"
                            : ", the public key given is " + recorder::fingerprint(known.front())));
  }
  const recorder::Header& h = parsed.header;
  std::cout << inert_line(name) << ": intact and complete: session " << h.session_id << " ("
            << inert_line(h.user) << " on " << inert_line(h.target) << " as " << inert_line(h.login)
            << ", " << format_rfc3339(h.started_at) << "), " << v.chunks_checked << " chunks, "
            << parsed.trailer->event_count << " events, signed by " << h.node_key_fingerprint
            << " (node " << inert_line(h.node) << ")\n";
  if (h.certificate) {
    std::cout << inert_line(name) << ": logged in to the target with certificate serial "
              << h.certificate->serial << ", key id \"" << inert_line(h.certificate->key_id)
              << "\", valid " << format_rfc3339(h.certificate->valid_after) << " to "
              << format_rfc3339(h.certificate->valid_before) << ", signed by CA "
              << inert_line(h.certificate->ca_fingerprint) << '\n';
  }
}

void print_public_key(Context& context) {
  std::cout << recorder::public_key_line(node_public_key(context),
                                         context.config().server.node_name)
            << '\n';
}

}  // namespace

void add_recording_commands(CLI::App& app, Action& chosen) {
  CLI::App* recording =
      app.add_subcommand("recording", "Export session recordings")->require_subcommand(1);
  auto get_id = std::make_shared<std::int64_t>(0);
  auto output = std::make_shared<std::string>();
  CLI::App* get = recording->add_subcommand(
      "get", "Write a session's recording as a portable evidence file (.pcr)");
  get->add_option("SESSION", *get_id, "Session id")->required();
  get->add_option("-o,--output", *output, "File to create (must not exist)")->required();
  get->callback([&chosen, get_id, output] {
    chosen = [get_id, output](Context& c) { get_recording(c, *get_id, *output); };
  });

  auto options = std::make_shared<VerifyOptions>();
  CLI::App* verify_cmd = app.add_subcommand(
      "verify", "Check a recording's hash chain and signature; name the first bad chunk");
  verify_cmd->add_option("SESSION_OR_FILE", options->what, "Session id, or a .pcr file")
      ->required();
  verify_cmd->add_option("--pubkey", options->pubkey_file,
                         "Public key line from `portcullis node pubkey` (default: the node keys "
                         "in the database and this node's .pub file)");
  verify_cmd->callback([&chosen, options] {
    // A file checked against a given key needs nothing from this machine's config.
    if (!options->pubkey_file.empty() && session_id(options->what) < 0) allow_missing_config();
    chosen = [options](Context& c) { verify(c, *options); };
  });

  CLI::App* node = app.add_subcommand("node", "This bastion node")->require_subcommand(1);
  node->add_subcommand("pubkey", "Print the public key that signs this node's recordings")
      ->callback([&chosen] { chosen = print_public_key; });
}

}  // namespace portcullis::cli
