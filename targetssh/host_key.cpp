#include "targetssh/host_key.h"

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "sshkey/certificate.h"
#include "sshkey/sshkey.h"
#include "targetssh/host_certificates.h"
#include "targetssh/targetssh.h"

namespace portcullis::targetssh {
namespace {

// The plain key types whose certificates the certificate reader knows.
constexpr const char* kCertifiableAlgorithms =
    "ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,"
    "rsa-sha2-256";

sshkey::Key pinned_key(const access::Target& target) {
  sshkey::Key pinned = sshkey::parse_public_key(target.host_key);
  if (!pinned) throw LoginError("the pinned host key of target " + target.name + " is not valid");
  return pinned;
}

[[noreturn]] void refuse(const access::Target& target, const std::string& why) {
  throw LoginError(
      "host certificate of target " + target.name + " " + why + "; refusing to connect", true);
}

bool names_target(const sshkey::CertificateFields& fields, const access::Target& target) {
  for (const std::string& principal : fields.principals) {
    if (principal == target.host || principal == target.name) return true;
  }
  return false;
}

std::uint64_t now_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// The checks OpenSSH's client makes of a host certificate (sshconnect.c): signed by the CA
// trusted for this target, a host certificate, for this target's name or host, valid now,
// with no critical option (none is defined for hosts, so one we do not know is refused).
void check_certificate(const sshkey::ParsedCertificate& certificate,
                       const std::string& trusted_blob, const access::Target& target) {
  const sshkey::CertificateFields& fields = certificate.fields;
  if (certificate.ca_key_blob != trusted_blob) {
    refuse(target, "(key id \"" + fields.key_id +
                       "\") was signed by another CA than the one "
                       "trusted for it");
  }
  if (!certificate.signature_valid) refuse(target, "has a signature that does not verify");
  if (fields.type != sshkey::CertificateType::host) refuse(target, "is not a host certificate");
  if (!names_target(fields, target)) {
    refuse(target,
           "(key id \"" + fields.key_id + "\") is not for " + target.host + " or " + target.name);
  }
  const std::uint64_t now = now_seconds();
  if (now < fields.valid_after) refuse(target, "is not valid yet");
  if (now >= fields.valid_before) refuse(target, "has expired");
  if (!fields.critical_options.empty()) {
    refuse(target, "carries the critical option " + fields.critical_options.begin()->first +
                       ", which is not defined for hosts");
  }
}

// Keys already found certified, so a target is scanned once per key rather than per login:
// (target, CA, key) -> the end of the certificate's validity.
class CertifiedKeys {
 public:
  bool holds(const std::string& entry) {
    const std::lock_guard lock(mutex_);
    const auto found = valid_before_.find(entry);
    return found != valid_before_.end() && now_seconds() < found->second;
  }
  void add(const std::string& entry, std::uint64_t valid_before) {
    const std::lock_guard lock(mutex_);
    if (valid_before_.size() >= kMaxEntries) valid_before_.clear();  // a bound, not an LRU
    valid_before_[entry] = valid_before;
  }

 private:
  static constexpr std::size_t kMaxEntries = 100'000;
  std::mutex mutex_;
  std::unordered_map<std::string, std::uint64_t> valid_before_;
};

CertifiedKeys& certified_keys() {
  static CertifiedKeys keys;
  return keys;
}

// The key the session proved must be certified for this target by its CA.
void check_certified(ssh_key presented, const access::Target& target,
                     std::chrono::seconds timeout) {
  const sshkey::Key trusted_ca = sshkey::parse_public_key(target.host_ca);
  const std::optional<std::string> trusted_blob =
      trusted_ca ? sshkey::public_key_blob(trusted_ca.get()) : std::nullopt;
  const std::optional<std::string> presented_blob = sshkey::public_key_blob(presented);
  if (!trusted_blob) throw LoginError("the host CA of target " + target.name + " is not valid");
  if (!presented_blob) refuse(target, "cannot be matched: the host key cannot be read");
  const std::string entry = target.name + '\n' + *trusted_blob + '\n' + *presented_blob;
  if (certified_keys().holds(entry)) return;
  for (const std::string& line : scan_host_certificates(target, timeout)) {
    const std::optional<sshkey::ParsedCertificate> certificate =
        sshkey::parse_certificate_line(line);
    if (!certificate || certificate->key_blob != *presented_blob) continue;
    check_certificate(*certificate, *trusted_blob, target);
    certified_keys().add(entry, certificate->fields.valid_before);
    return;
  }
  refuse(target, "is missing: the target offers no certificate for its host key " +
                     sshkey::shown_fingerprint(presented));
}

}  // namespace

std::string host_key_algorithms(const access::Target& target) {
  if (!target.host_ca.empty()) return kCertifiableAlgorithms;
  const sshkey::Key pinned = pinned_key(target);
  const enum ssh_keytypes_e type = ssh_key_type(pinned.get());
  if (type == SSH_KEYTYPE_RSA) return "rsa-sha2-512,rsa-sha2-256";
  return ssh_key_type_to_char(type);
}

void check_host_key(ssh_session session, const access::Target& target,
                    std::chrono::seconds timeout) {
  ssh_key presented_raw = nullptr;
  if (ssh_get_server_publickey(session, &presented_raw) != SSH_OK) {
    throw LoginError("target " + target.name + " presented no host key");
  }
  const sshkey::Key presented(presented_raw);
  if (!target.host_ca.empty()) return check_certified(presented.get(), target, timeout);
  const sshkey::Key pinned = pinned_key(target);
  if (ssh_key_cmp(presented.get(), pinned.get(), SSH_KEY_CMP_PUBLIC) != 0) {
    throw LoginError("host key of target " + target.name +
                         " does not match the pinned key (expected " +
                         sshkey::shown_fingerprint(pinned.get()) + ", got " +
                         sshkey::shown_fingerprint(presented.get()) + "); refusing to connect",
                     true);
  }
}

}  // namespace portcullis::targetssh
