// `portcullis init` and `portcullis db migrate`: everything a fresh bastion needs.
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <iostream>

#include "access/access.h"
#include "cli/cli.h"
#include "cli/ssh_keys.h"
#include "recorder/keys.h"
#include "settings/settings.h"
#include "vault/vault.h"
#include "web/certificate.h"

namespace portcullis::cli {
namespace {

namespace fs = std::filesystem;

// Creates `dir` and any missing parents, private to the bastion's user. True if created.
bool make_private_dir(const fs::path& dir) {
  if (dir.empty() || fs::exists(dir)) return false;
  make_private_dir(dir.parent_path());
  fs::create_directory(dir);
  fs::permissions(dir, fs::perms::owner_all);
  return true;
}

// The recording signing key: the 64-byte libsodium Ed25519 secret key (seed || public key),
// raw, nothing else.
void create_signing_key(const fs::path& path) {
  if (sodium_init() < 0) throw std::runtime_error("cannot initialise libsodium");
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> public_key{};
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> secret_key{};
  crypto_sign_keypair(public_key.data(), secret_key.data());
  write_private_file(
      path, std::string_view(reinterpret_cast<const char*>(secret_key.data()), secret_key.size()));
  sodium_memzero(secret_key.data(), secret_key.size());
}

// Runs `create` for `path` unless the file is already there, making its folder first.
void create_missing(const fs::path& path, const std::string& what,
                    const std::function<std::string(const fs::path&)>& create) {
  if (fs::exists(path)) return;
  make_private_dir(path.parent_path());
  const std::string note = create(path);
  std::cout << "created " << what << " " << path.string() << (note.empty() ? "" : " (" + note + ")")
            << '\n';
}

// What the console's self-signed certificate names: the address people use, the address it
// listens on (unless every address), and this host's loopback.
std::vector<std::string> web_certificate_names(const Config& config) {
  std::vector<std::string> names;
  const auto add = [&names](const std::string& name) {
    if (!name.empty() && std::find(names.begin(), names.end(), name) == names.end()) {
      names.push_back(name);
    }
  };
  if (!config.web.public_url.empty()) {
    std::string host = config.web.public_url.substr(std::string_view("https://").size());
    host = host.substr(0, host.find('/'));
    if (host.starts_with('[')) {
      host = host.substr(1, host.find(']') - 1);
    } else if (host.find(':') != std::string::npos) {
      host = host.substr(0, host.find(':'));
    }
    add(host);
  }
  if (config.web.listen_host != "0.0.0.0" && config.web.listen_host != "::") {
    add(config.web.listen_host);
  }
  add("localhost");
  add("127.0.0.1");
  return names;
}

void apply_migrations(Context& context) {
  const std::vector<std::string> applied = store::migrate(context.connection());
  if (applied.empty()) std::cout << "database schema is up to date\n";
  for (const std::string& name : applied) std::cout << "applied migration " << name << '\n';
}

void run_init(Context& context) {
  disable_core_dumps();  // it creates and reads the secret keys
  const Config& config = context.config();
  create_missing(config.server.host_key, "host key", [](const fs::path& path) {
    return access::public_key_fingerprint(create_host_key(path));
  });
  create_missing(config.vault.key_file, "vault key", [](const fs::path& path) {
    vault::create_key_file(path);
    return std::string();
  });
  create_missing(config.recording.signing_key, "signing key", [](const fs::path& path) {
    create_signing_key(path);
    return std::string();
  });
  // Beside it, its public half: what auditors verify with (older installs get it now too).
  if (!fs::exists(recorder::public_key_file(config.recording.signing_key))) {
    const recorder::PublicKey key =
        recorder::load_public_key(config.recording.signing_key, config.server.node_name);
    std::cout << "created public key "
              << recorder::public_key_file(config.recording.signing_key).string() << " ("
              << recorder::fingerprint(key) << ")\n";
  }
  // The console's own certificate, until the operator names one from their CA.
  if (!config.web.listen.empty() && !fs::exists(config.web.tls_cert)) {
    create_missing(config.web.tls_key, "web console key", [&config](const fs::path& key) {
      return "certificate " + config.web.tls_cert.string() + ", self-signed, SHA-256 " +
             web::create_self_signed_certificate(config.web.tls_cert, key,
                                                 web_certificate_names(config));
    });
  }
  if (make_private_dir(config.recording.spool_dir)) {
    std::cout << "created spool directory " << config.recording.spool_dir.string() << '\n';
  }
  apply_migrations(context);
  create_first_ssh_ca(context);
}

}  // namespace

void add_setup_commands(CLI::App& app, Action& chosen) {
  app.add_subcommand(
         "init",
         "Create the missing host key, vault key, signing key, spool directory and (with [web] "
         "listen) the console's self-signed certificate, "
         "migrate the database, then create the SSH CA key if there is none (safe "
         "to run again)")
      ->callback([&chosen] { chosen = run_init; });

  CLI::App* db = app.add_subcommand("db", "Database maintenance")->require_subcommand(1);
  db->add_subcommand("migrate", "Apply the schema migrations built into this program")
      ->callback([&chosen] { chosen = apply_migrations; });
}

}  // namespace portcullis::cli
