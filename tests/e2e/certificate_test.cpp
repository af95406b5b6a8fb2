// Per-grant SSH certificates, end to end: the bastion as the user CA of targets that trust no
// stored key, and host certificates from a CA trusted for a target instead of a pinned key.
// The real ssh client, portcullisd, OpenSSH's sshd as the target and PostgreSQL.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

std::string describe(const RunResult& r) {
  return "exit status " + std::to_string(r.exit_status) + "\n--- stdout:\n" +
         r.out.substr(0, 2000) + "\n--- stderr:\n" + r.err.substr(0, 4000);
}

// The target's sshd takes user certificates from TrustedUserCAKeys only: no authorized_keys
// at all. ExposeAuthInfo lets a session read the certificate it was accepted with.
constexpr std::string_view kCertificateOnlyTarget =
    "AuthorizedKeysFile none\n"
    "ExposeAuthInfo yes\n";

struct CertificateGateway {
  CertificateGateway() {
    user_key = bastion.add_user("alice");
    bastion.add_target("db01", target);
    bastion.cli_checked({"account", "add", "db01", target.account(), "--certificate"});
    trust_bastion_ca();
    grant_id = bastion.add_grant("alice", "db01", target.account(), "30m");
    bastion.start();
  }
  ~CertificateGateway() { fs::remove(trusted); }

  // The file the target's sshd reads TrustedUserCAKeys from (at each login), empty at first.
  static fs::path empty_trust_file() {
    static int counter = 0;
    const fs::path file =
        fs::temp_directory_path() /
        ("portcullis-trusted-ca-" + std::to_string(::getpid()) + "-" + std::to_string(++counter));
    write_file(file, "");
    fs::permissions(file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                              fs::perms::others_read);
    return file;
  }

  // What an administrator does: the target trusts what `ca pubkey` prints.
  void trust_bastion_ca() { write_file(trusted, bastion.cli_checked({"ca", "pubkey"}) + "\n"); }

  const fs::path trusted = empty_trust_file();
  TargetSshd target{std::string(kCertificateOnlyTarget) + "TrustedUserCAKeys " + trusted.string() +
                    "\n"};
  Bastion bastion;
  KeyPair user_key;
  std::string grant_id;
};

nlohmann::json cli_json(const Bastion& bastion, const std::vector<std::string>& args) {
  return nlohmann::json::parse(bastion.cli_checked(args));
}

RunResult ssh(const CertificateGateway& gw, const std::vector<std::string>& command) {
  return run_ssh(gw.user_key.private_key, gw.bastion.port(), "alice:db01", command);
}

// The files under `dir` that hold an OpenSSH private key, one per line.
std::string private_keys_under(const fs::path& dir) {
  return run({"grep", "-r", "-l", "OPENSSH PRIVATE KEY", dir.string()}).out;
}

// The certificate line the target accepted, from the session's ExposeAuthInfo file.
std::string certificate_seen_by_target(const RunResult& r) {
  const std::regex line("publickey (ssh-ed25519-cert-v01@openssh.com [A-Za-z0-9+/=]+)");
  std::smatch match;
  if (!std::regex_search(r.out, match, line)) return "";
  return match[1];
}

// A session works through a target that has no authorized_keys for the account, the target's
// own log names the grant and session, and the certificate is what the issue says it is.
TEST(CertificateAccount, SessionWorksOnATargetThatTrustsOnlyTheBastionCa) {
  CertificateGateway gw;
  const std::string keys_before = private_keys_under(gw.bastion.dir());
  const RunResult r = ssh(gw, {"whoami; cat \"$SSH_USER_AUTH\""});
  ASSERT_EQ(r.exit_status, 0) << describe(r) << gw.bastion.log() << gw.target.log();
  EXPECT_TRUE(r.out.starts_with(gw.target.account() + "\n")) << r.out;

  const nlohmann::json session = cli_json(gw.bastion, {"session", "list", "--json"}).at(0);
  const std::string session_id = std::to_string(session.at("id").get<std::int64_t>());
  const std::string key_id =
      "portcullis:grant=" + gw.grant_id + ":session=" + session_id + ":user=alice";
  EXPECT_NE(gw.target.log().find("ID " + key_id + " (serial " + session_id + ")"),
            std::string::npos)
      << gw.target.log();

  // The certificate as the target received it: principal, validity up to the grant's end,
  // no forwarding or agent extensions.
  const std::string certificate = certificate_seen_by_target(r);
  ASSERT_FALSE(certificate.empty()) << r.out;
  const fs::path captured = gw.bastion.dir() / "captured-cert.pub";
  write_file(captured, certificate + "\n");
  const std::string listing = run_checked({"ssh-keygen", "-L", "-f", captured.string()});
  EXPECT_NE(listing.find("Key ID: \"" + key_id + "\""), std::string::npos) << listing;
  EXPECT_NE(listing.find("Principals: \n                " + gw.target.account() + "\n"),
            std::string::npos)
      << listing;
  EXPECT_EQ(listing.find("permit-port-forwarding"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("permit-agent-forwarding"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("permit-pty"), std::string::npos) << "no pty was asked for\n" << listing;
  const std::string grant_end =
      PostgresCluster::shared().query(gw.bastion.database(),
                                      "SELECT to_char(expires_at AT TIME ZONE 'localtime', "
                                      "'YYYY-MM-DD\"T\"HH24:MI:SS') FROM grants WHERE id = " +
                                          gw.grant_id);
  EXPECT_NE(listing.find(" to " + grant_end), std::string::npos)
      << "the certificate must end with the grant (" << grant_end << ")\n"
      << listing;

  // The audit log and the session row carry it; the secret half never leaves memory.
  const std::string issued = PostgresCluster::shared().query(
      gw.bastion.database(),
      "SELECT details FROM audit_events WHERE action = 'credential.certificate_issued'");
  EXPECT_NE(issued.find(key_id), std::string::npos) << issued;
  EXPECT_NE(issued.find("\"serial\": " + session_id), std::string::npos) << issued;
  const std::string stored = PostgresCluster::shared().query(
      gw.bastion.database(),
      "SELECT certificate->>'key_id' FROM sessions WHERE id = " + session_id);
  EXPECT_EQ(stored, key_id);
  EXPECT_EQ(private_keys_under(gw.bastion.dir()), keys_before)
      << "the session's key was written to disk";
}

// The recording's header names the certificate, and `portcullis verify` says so.
TEST(CertificateAccount, RecordingHeaderNamesTheCertificate) {
  CertificateGateway gw;
  ASSERT_EQ(ssh(gw, {"true"}).exit_status, 0) << gw.bastion.log();
  const nlohmann::json session = cli_json(gw.bastion, {"session", "list", "--json"}).at(0);
  const std::string id = std::to_string(session.at("id").get<std::int64_t>());
  ASSERT_TRUE(wait_until(
      [&] {
        return PostgresCluster::shared().query(
                   gw.bastion.database(), "SELECT count(*) FROM recordings WHERE session_id = " +
                                              id + " AND state = 'complete'") == "1";
      },
      20s))
      << gw.bastion.log();
  const std::string verified = gw.bastion.cli_checked({"verify", id});
  EXPECT_NE(verified.find("certificate serial " + id + ", key id \"portcullis:grant=" +
                          gw.grant_id + ":session=" + id + ":user=alice\""),
            std::string::npos)
      << verified;
}

// A certificate copied off the target is worth nothing once the grant is over: re-presented
// with any key after the grant's end, the target refuses it.
TEST(CertificateAccount, CapturedCertificateCannotBeReusedAfterTheGrant) {
  CertificateGateway gw;
  const RunResult r = ssh(gw, {"cat \"$SSH_USER_AUTH\""});
  ASSERT_EQ(r.exit_status, 0) << describe(r) << gw.bastion.log();
  const fs::path captured = gw.bastion.dir() / "captured-cert.pub";
  write_file(captured, certificate_seen_by_target(r) + "\n");
  gw.bastion.cli_checked({"grant", "revoke", gw.grant_id, "--reason", "done"});
  const KeyPair thief = generate_key(gw.bastion.dir() / "thief");
  const RunResult reuse =
      run({"ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o",
           "UserKnownHostsFile=/dev/null", "-o", "IdentitiesOnly=yes", "-o",
           "CertificateFile=" + captured.string(), "-i", thief.private_key.string(), "-p",
           std::to_string(gw.target.port()), gw.target.account() + "@127.0.0.1", "true"});
  EXPECT_NE(reuse.exit_status, 0) << describe(reuse);
  // And through the bastion, the grant is over: no new certificate is issued.
  EXPECT_NE(ssh(gw, {"true"}).exit_status, 0);
  EXPECT_EQ(PostgresCluster::shared().query(
                gw.bastion.database(),
                "SELECT count(*) FROM audit_events WHERE action = 'credential.certificate_issued'"),
            "1");
}

// After `ca rotate` new sessions are signed by the new key; `ca pubkey` lists both until the
// old one is retired; the signing key cannot be retired.
TEST(CertificateAccount, RotatedCaSignsNewSessionsAndOldKeyStaysListedUntilRetired) {
  CertificateGateway gw;
  const nlohmann::json before = cli_json(gw.bastion, {"ca", "pubkey", "--json"});
  ASSERT_EQ(before.size(), 1u) << before.dump();
  const std::string old_id = std::to_string(before.at(0).at("id").get<std::int64_t>());
  const std::string old_fingerprint = before.at(0).at("fingerprint");

  gw.bastion.cli_checked({"ca", "rotate"});
  const nlohmann::json after = cli_json(gw.bastion, {"ca", "pubkey", "--json"});
  ASSERT_EQ(after.size(), 2u) << after.dump();
  EXPECT_FALSE(after.at(0).at("signing").get<bool>());
  EXPECT_TRUE(after.at(1).at("signing").get<bool>());
  const std::string new_fingerprint = after.at(1).at("fingerprint");
  EXPECT_EQ(
      gw.bastion.cli({"ca", "retire", std::to_string(after.at(1).at("id").get<int>())}).exit_status,
      1)
      << "the key that signs cannot be retired";

  gw.trust_bastion_ca();  // the administrator rolls out both keys
  ASSERT_EQ(ssh(gw, {"true"}).exit_status, 0) << gw.bastion.log() << gw.target.log();
  EXPECT_NE(gw.target.log().find("CA ED25519 " + new_fingerprint), std::string::npos)
      << gw.target.log();
  EXPECT_EQ(gw.target.log().find("CA ED25519 " + old_fingerprint), std::string::npos);

  gw.bastion.cli_checked({"ca", "retire", old_id});
  const std::string listed = gw.bastion.cli_checked({"ca", "pubkey"});
  EXPECT_EQ(std::count(listed.begin(), listed.end(), '\n'), 0) << listed;  // one line, trimmed
  EXPECT_EQ(listed.find("portcullis-ca-" + old_id), std::string::npos) << listed;
  const std::string audited = PostgresCluster::shared().query(
      gw.bastion.database(),
      "SELECT string_agg(action, ',' ORDER BY id) FROM audit_events WHERE action LIKE 'ca.%'");
  EXPECT_EQ(audited, "ca.created,ca.rotated,ca.retired");
}

// ---------------------------------------------------------------------------------------------
// Host certificates

struct HostCa {
  explicit HostCa(const fs::path& dir, const std::string& name) : key(dir / name) {
    run_checked({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key.string()});
  }
  fs::path public_key() const { return fs::path(key.string() + ".pub"); }
  fs::path key;
};

// An sshd whose ed25519 host key carries a certificate from `ca` for `principals`, valid for
// `validity` (ssh-keygen -V).
struct CertifiedTarget {
  CertifiedTarget(const HostCa& ca, const fs::path& dir, const std::string& principals,
                  const std::string& validity = "-5m:+1h")
      : host_key(generate_key(dir / ("host-" + std::to_string(++count)), "certified-host")),
        target(certify(ca, host_key, principals, validity)) {}

  static std::string certify(const HostCa& ca, const KeyPair& host_key,
                             const std::string& principals, const std::string& validity) {
    run_checked({"ssh-keygen", "-q", "-s", ca.key.string(), "-h", "-I", "target-host", "-n",
                 principals, "-V", validity, host_key.public_key().string()});
    // In front: this key and its certificate are offered for the certificate algorithms.
    return "HostKey " + host_key.private_key.string() + "\nHostCertificate " +
           host_key.private_key.string() + "-cert.pub\n";
  }

  static inline int count = 0;
  KeyPair host_key;
  TargetSshd target;
};

struct HostCertificateCase {
  Bastion bastion;
  KeyPair user_key = bastion.add_user("alice");
  HostCa trusted{bastion.dir(), "host-ca"};
  HostCa other{bastion.dir(), "other-ca"};

  void add(const std::string& name, const TargetSshd& target, const HostCa& ca) {
    bastion.cli_checked({"target", "add", name, "--host", "127.0.0.1", "--port",
                         std::to_string(target.port()), "--host-ca", ca.public_key().string()});
    bastion.add_key_account(name, target);
    bastion.add_grant("alice", name, target.account());
  }
  RunResult ssh(const std::string& name, const std::string& command) {
    return run_ssh(user_key.private_key, bastion.port(), "alice:" + name, {command});
  }
  std::string refusals() {
    return PostgresCluster::shared().query(
        bastion.database(),
        "SELECT count(*) FROM audit_events WHERE action = 'target.host_key_mismatch'");
  }
};

// A target presenting a host certificate from the CA trusted for it is reached with no key
// pinned; one for another name, expired, or from another CA is refused and audited, and so is
// a target that offers no certificate at all.
TEST(HostCertificate, TrustedCaIsAcceptedAndEveryOtherCertificateRefused) {
  HostCertificateCase c;
  const CertifiedTarget good(c.trusted, c.bastion.dir(), "127.0.0.1,db01");
  const CertifiedTarget other_name(c.trusted, c.bastion.dir(), "db99.example");
  const CertifiedTarget expired(c.trusted, c.bastion.dir(), "127.0.0.1", "-2h:-1h");
  const CertifiedTarget other_ca(c.other, c.bastion.dir(), "127.0.0.1");
  const TargetSshd uncertified;
  c.add("db01", good.target, c.trusted);
  c.add("db02", other_name.target, c.trusted);
  c.add("db03", expired.target, c.trusted);
  c.add("db04", other_ca.target, c.trusted);
  c.add("db05", uncertified, c.trusted);
  c.bastion.start();

  const RunResult ok = c.ssh("db01", "echo reached");
  EXPECT_EQ(ok.out, "reached\n") << describe(ok) << c.bastion.log();
  EXPECT_EQ(c.refusals(), "0");

  const std::vector<std::pair<std::string, std::string>> refused = {
      {"db02", "is not for 127.0.0.1 or db02"},
      {"db03", "has expired"},
      {"db04", "was signed by another CA"},
      {"db05", "the target offers no certificate for its host key"}};
  int count = 0;
  for (const auto& [name, why] : refused) {
    const RunResult r = c.ssh(name, "echo reached");
    EXPECT_NE(r.exit_status, 0) << name << describe(r);
    EXPECT_EQ(r.out.find("reached"), std::string::npos) << name;
    EXPECT_NE(r.err.find(why), std::string::npos) << name << ": " << describe(r);
    EXPECT_EQ(c.refusals(), std::to_string(++count)) << name << " was not audited";
  }
  const nlohmann::json targets = cli_json(c.bastion, {"target", "list", "--json"});
  EXPECT_TRUE(targets.at(0).at("host_key").is_null()) << targets.dump();
  EXPECT_NE(targets.at(0).at("host_ca_fingerprint").get<std::string>().find("SHA256:"),
            std::string::npos);
}

// Only Ed25519 host CAs are checked; another kind is refused when the target is added.
TEST(HostCertificate, NonEd25519CaIsRefusedAtTargetAdd) {
  Bastion bastion;
  const fs::path rsa = bastion.dir() / "rsa-ca";
  run_checked({"ssh-keygen", "-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", rsa.string()});
  const RunResult r = bastion.cli({"target", "add", "db01", "--host", "127.0.0.1", "--port", "22",
                                   "--host-ca", rsa.string() + ".pub"});
  EXPECT_EQ(r.exit_status, 1) << describe(r);
  EXPECT_NE(r.err.find("not an Ed25519 key"), std::string::npos) << describe(r);
}

}  // namespace
}  // namespace portcullis::e2e
