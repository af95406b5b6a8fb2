// `portcullis recording get`, `portcullis verify` and `portcullis node pubkey`: the auditor's
// evidence commands. `verify FILE` reads only the file (and a key): no database connection.
#include <filesystem>
#include <iostream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/recording_source.h"
#include "common/common.h"
#include "recorder/archive.h"
#include "recorder/keys.h"
#include "recorder/postgres_store.h"
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

// Whether the recording's chunks are packed in segments (archive form).
bool in_archive_form(const std::string& bytes) {
  recorder::RecordStream stream = recorder::RecordStream::over(bytes);
  recorder::Chunk first;
  return stream.next_chunk(first) && first.from_segment;
}

struct GetOptions {
  std::int64_t id = 0;
  std::string output;
  std::string form;  // "live", "archive", or "" for the form it is stored in
};

void get_recording(Context& context, const GetOptions& options) {
  std::string bytes = load_stored_recording(context, options.id);
  const bool archived = in_archive_form(bytes);
  try {
    // Both forms hold the same chain, so either verifies with the node's original signature.
    if (options.form == "live" && archived) {
      bytes = recorder::to_live_form(recorder::RecordStream::over(bytes));
    } else if (options.form == "archive" && !archived) {
      bytes = recorder::to_archive_form(recorder::RecordStream::over(bytes)).file;
    }
  } catch (const recorder::RecordingError& e) {
    throw UsageError("session " + std::to_string(options.id) + ": cannot write the " +
                     options.form + " form: " + e.what() +
                     "; write it as stored (without --form) and verify it");
  }
  const recorder::ParsedRecording parsed = recorder::parse(bytes);
  write_private_file(options.output, bytes);
  std::cout << "wrote the recording of session " << options.id << " to " << options.output << ": "
            << parsed.chunks.size() << " chunks, " << bytes.size() << " bytes, "
            << (in_archive_form(bytes) ? "archive form, " : "live form, ")
            << (parsed.trailer ? "complete" : "incomplete (no trailer)") << '\n';
}

struct CompactOptions {
  std::vector<std::int64_t> ids;
  bool all = false;
};

// `recording compact`: what the node does after shipping, for recordings stored before (or by a
// node with `compact = false`). Each recording in its own transaction, audited there.
void compact_recordings(Context& context, const CompactOptions& options) {
  if (options.all == !options.ids.empty()) {
    throw UsageError("name the sessions whose recordings to compact, or --all (not both)");
  }
  const std::vector<recorder::PublicKey> keys = known_node_keys(context, "");
  recorder::ArchiveOptions archive;
  archive.level = context.config().recording.compact_level;
  std::vector<std::int64_t> ids = options.ids;
  if (options.all) {
    context.transact([&](pqxx::work& tx) {
      ids = recorder::recordings_to_compact(tx, std::numeric_limits<std::size_t>::max() / 2);
    });
  }
  std::size_t failed = 0, compacted = 0;
  for (const std::int64_t id : ids) {
    recorder::RecordingStore::Compaction c;
    try {
      context.transact([&](pqxx::work& tx) {
        c = recorder::compact_recording(tx, id, keys, archive);
        if (!c.compacted) return;
        const nlohmann::json details = {
            {"chunks", c.chunks},           {"segments", c.segments},
            {"raw_bytes", c.raw_bytes},     {"bytes_before", c.bytes_before},
            {"bytes_after", c.bytes_after}, {"level", archive.level}};
        access::audit(tx, context.actor(), "recording.compacted", "session:" + std::to_string(id),
                      details.dump());
      });
    } catch (const std::exception& e) {
      ++failed;
      std::cerr << "session " << id
                << ": not compacted, its chunks are kept: " << inert_line(e.what()) << '\n';
      continue;
    }
    if (!c.compacted) {
      std::cout << "session " << id << ": not compacted: " << c.skipped << '\n';
      continue;
    }
    ++compacted;
    std::cout << "session " << id << ": compacted " << c.chunks << " chunks into " << c.segments
              << " segment(s), " << c.bytes_before << " -> " << c.bytes_after << " bytes stored ("
              << c.raw_bytes << " raw)\n";
  }
  if (options.all) std::cout << compacted << " recording(s) compacted\n";
  if (failed > 0) {
    throw std::runtime_error(std::to_string(failed) +
                             " recording(s) could not be compacted (above); run `portcullis "
                             "verify SESSION` on each to see what is wrong");
  }
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
  auto get_options = std::make_shared<GetOptions>();
  CLI::App* get = recording->add_subcommand(
      "get", "Write a session's recording as a portable evidence file (.pcr)");
  get->add_option("SESSION", get_options->id, "Session id")->required();
  get->add_option("-o,--output", get_options->output, "File to create (must not exist)")
      ->required();
  get->add_option("--form", get_options->form,
                  "live (a chunk record a second) or archive (compacted segments); default: the "
                  "form it is stored in. Both verify with the node's signature")
      ->check(CLI::IsMember({"live", "archive"}));
  get->callback([&chosen, get_options] {
    chosen = [get_options](Context& c) { get_recording(c, *get_options); };
  });

  auto compact = std::make_shared<CompactOptions>();
  CLI::App* compact_cmd = recording->add_subcommand(
      "compact",
      "Recompress finished recordings into their archive form (audited; the node does it "
      "itself after shipping unless [recording] compact = false)");
  compact_cmd->add_option("SESSION", compact->ids, "Session ids");
  compact_cmd->add_flag("--all", compact->all, "Every finished recording not compacted yet");
  compact_cmd->callback(
      [&chosen, compact] { chosen = [compact](Context& c) { compact_recordings(c, *compact); }; });

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
