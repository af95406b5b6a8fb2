#include <spdlog/spdlog.h>

#include <thread>

#include "common/common.h"
#include "rotation/attempts.h"
#include "rotation/credential_change.h"
#include "rotation/rotation.h"

namespace portcullis::rotation {
namespace {

using namespace std::chrono_literals;

// The new credential works on the target once it is verified, so storing it must not give up
// at the first database hiccup: until it is stored, only the pending secret holds it.
template <typename Work>
void transact_patiently(store::Database& database, std::chrono::seconds patience, Work work) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (true) {
    try {
      database.transact(work);
      return;
    } catch (const store::DatabaseUnavailable& e) {
      if (std::chrono::steady_clock::now() >= deadline) throw;
      spdlog::warn("rotation: cannot store the result yet ({}); trying again", e.what());
      std::this_thread::sleep_for(1s);
    }
  }
}

}  // namespace

TargetLogin::TargetLogin(const Change& change, const targetssh::Credential& credential)
    : socket_(targetssh::dial(change.claim.target, change.timeout)),
      session_(targetssh::log_in(change.claim.target, change.claim.account.login, credential,
                                 socket_, change.timeout)) {}

TargetLogin::~TargetLogin() { targetssh::disconnect(session_); }

std::vector<std::uint8_t> seal_pending(const Change& change, const vault::Secret& secret) {
  std::vector<std::uint8_t> sealed = change.vault.seal(
      secret.reveal(),
      access::account_context(change.claim.target.name, change.claim.account.login));
  change.keep_pending(sealed);
  return sealed;
}

Rotator::Rotator(const RotationConfig& config, const vault::Vault& vault, std::string holder,
                 std::string actor)
    : config_(config), vault_(vault), holder_(std::move(holder)), actor_(std::move(actor)) {}

std::optional<Report> Rotator::rotate_next_due(store::Database& database) const {
  std::optional<access::RotationClaim> claim =
      database.transact([&](pqxx::work& tx) { return access::claim_due_rotation(tx, holder_); });
  if (!claim) return std::nullopt;
  return run(database, *claim);
}

Report Rotator::rotate(store::Database& database, const std::string& target,
                       const std::string& login) const {
  const access::RotationClaim claim = database.transact(
      [&](pqxx::work& tx) { return access::claim_rotation(tx, holder_, target, login); });
  return run(database, claim);
}

Report Rotator::run(store::Database& database, const access::RotationClaim& claim) const {
  Report report;
  report.target = claim.target.name;
  report.login = claim.account.login;
  report.kind = claim.account.kind;
  const Change change{
      claim, vault_, config_.timeout, [&](const std::vector<std::uint8_t>& sealed) {
        database.transact([&](pqxx::work& tx) { access::keep_pending_secret(tx, claim, sealed); });
      }};
  std::optional<Changed> changed;
  std::string error;
  try {
    changed = claim.account.kind == access::CredentialKind::key ? change_key(change)
                                                                : change_password(change);
  } catch (const std::exception& e) {
    error = one_line(e.what());
  }
  if (changed) {
    transact_patiently(database, config_.timeout, [&](pqxx::work& tx) {
      access::finish_rotation(tx, actor_, claim, changed->sealed, changed->details_json);
    });
    report.rotated = true;
    report.summary = changed->summary;
    return report;
  }
  const access::RotationFailure failure = after_failure(claim.failures, error, config_);
  database.transact([&](pqxx::work& tx) { access::fail_rotation(tx, actor_, claim, failure); });
  report.summary = error;
  report.failures = failure.failures;
  report.alert = alert_due(failure, config_);
  return report;
}

}  // namespace portcullis::rotation
