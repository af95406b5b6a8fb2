#include "access/queries.h"

#include <algorithm>
#include <cctype>

#include "common/common.h"

namespace portcullis::access {

std::string account_context(const std::string& target, const std::string& login) {
  return "account:" + target + ":" + login;
}

std::string to_string(CredentialKind kind) {
  switch (kind) {
    case CredentialKind::password:
      return "password";
    case CredentialKind::key:
      return "key";
    case CredentialKind::certificate:
      return "certificate";
  }
  return "unknown";
}

namespace detail {
namespace {

CredentialKind credential_kind(const std::string& text) {
  if (text == "password") return CredentialKind::password;
  if (text == "key") return CredentialKind::key;
  if (text == "certificate") return CredentialKind::certificate;
  throw std::logic_error("unknown credential kind in the database: " + text);
}

GrantState grant_state(const std::string& text) {
  for (GrantState state : {GrantState::pending, GrantState::active, GrantState::expired,
                           GrantState::revoked, GrantState::denied}) {
    if (to_string(state) == text) return state;
  }
  throw std::logic_error("unknown grant state: " + text);
}

}  // namespace

std::string micros(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + ") * 1000000)::bigint";
}

std::string since_condition(std::string_view column, std::string_view parameter) {
  const std::string bound = std::string(parameter) + "::bigint";
  return "(" + bound + " = 0 OR " + std::string(column) + " >= to_timestamp(" + bound + " / 1e6))";
}

std::string from_micros(std::string_view parameter) {
  return "('epoch'::timestamptz + " + std::string(parameter) +
         "::bigint * interval '1 microsecond')";
}

long long micros_of(TimePoint at) {
  return std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
}

long long since_parameter(const std::optional<TimePoint>& bound) {
  return bound ? micros_of(*bound) : 0;
}

TimePoint time_at(const pqxx::field& micros_field) {
  return TimePoint(std::chrono::microseconds(micros_field.as<std::int64_t>()));
}

std::optional<TimePoint> optional_time_at(const pqxx::field& micros_field) {
  if (micros_field.is_null()) return std::nullopt;
  return time_at(micros_field);
}

void check_name(std::string_view what, const std::string& name) {
  const bool allowed =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' ||
               c == '@' || c == '-';
      });
  if (!allowed) {
    throw AccessError("invalid " + std::string(what) + " '" + inert_line(name.substr(0, 80)) +
                      "': use 1 to 64 letters, digits, '.', '_', '@' or '-'");
  }
}

// Extensions are never admitted on their own: the grant they extend carries the new end.
const char* const kGrantIsActive =
    "(g.status = 'approved' AND g.extends_grant_id IS NULL AND g.revoked_at IS NULL"
    " AND g.starts_at <= now() AND now() < g.expires_at)";

const std::string& grant_query() {
  // The state is derived here, with the database's clock, so every node agrees on it.
  static const std::string sql =
      "SELECT g.id, u.name, t.name, a.login, g.reason, g.ticket,"
      " CASE WHEN g.revoked_at IS NOT NULL THEN 'revoked'"
      "      WHEN g.status = 'denied' THEN 'denied'"
      "      WHEN g.status = 'pending' AND now() >= g.pending_until THEN 'expired'"
      "      WHEN g.status = 'pending' THEN 'pending'"
      "      WHEN now() >= g.expires_at THEN 'expired'"
      // An approved extension is part of its grant's window from the moment it is approved.
      "      WHEN g.extends_grant_id IS NOT NULL THEN 'active'"
      "      WHEN now() < g.starts_at THEN 'pending'"
      "      ELSE 'active' END, " +
      micros("g.starts_at") + ", " + micros("g.expires_at") + ", " + micros("g.revoked_at") +
      ", COALESCE(g.revoke_reason, ''), extract(epoch FROM g.duration)::bigint, " +
      micros("g.created_at") + ", g.created_by, g.policy, g.approvals_needed," +
      " (SELECT count(*) FROM approvals p WHERE p.grant_id = g.id), g.break_glass, " +
      micros("g.pending_until") +
      ", COALESCE(g.denied_by, ''), COALESCE(g.deny_reason, ''), g.extends_grant_id,"
      " g.review_required, " +
      micros("g.reviewed_at") +
      ", COALESCE(g.reviewed_by, ''), COALESCE(g.review_note, '')"
      " FROM grants g"
      " JOIN users u ON u.id = g.user_id"
      " JOIN accounts a ON a.id = g.account_id"
      " JOIN targets t ON t.id = a.target_id ";
  return sql;
}

Grant grant_from_row(const pqxx::row& row) {
  Grant grant;
  grant.id = row[0].as<std::int64_t>();
  grant.user = row[1].as<std::string>();
  grant.target = row[2].as<std::string>();
  grant.login = row[3].as<std::string>();
  grant.reason = row[4].as<std::string>();
  grant.ticket = row[5].as<std::string>();
  grant.state = grant_state(row[6].as<std::string>());
  grant.starts_at = optional_time_at(row[7]).value_or(TimePoint{});
  grant.expires_at = optional_time_at(row[8]).value_or(TimePoint{});
  grant.revoked_at = optional_time_at(row[9]);
  grant.revoke_reason = row[10].as<std::string>();
  grant.duration = std::chrono::seconds(row[11].as<std::int64_t>());
  grant.requested_at = time_at(row[12]);
  grant.created_by = row[13].as<std::string>();
  grant.policy = row[14].as<std::string>();
  grant.approvals_needed = row[15].as<int>();
  grant.approvals_given = row[16].as<int>();
  grant.break_glass = row[17].as<bool>();
  grant.pending_until = optional_time_at(row[18]);
  grant.denied_by = row[19].as<std::string>();
  grant.deny_reason = row[20].as<std::string>();
  if (!row[21].is_null()) grant.extends = row[21].as<std::int64_t>();
  grant.review_required = row[22].as<bool>();
  grant.reviewed_at = optional_time_at(row[23]);
  grant.reviewed_by = row[24].as<std::string>();
  grant.review_note = row[25].as<std::string>();
  return grant;
}

const std::string& target_query() {
  static const std::string sql =
      "SELECT t.id, t.name, t.host, t.port, COALESCE(t.host_key, ''), COALESCE(t.host_ca, '')"
      " FROM targets t ";
  return sql;
}

Target target_from_row(const pqxx::row& row) {
  Target target;
  target.id = row[0].as<std::int64_t>();
  target.name = row[1].as<std::string>();
  target.host = row[2].as<std::string>();
  target.port = static_cast<std::uint16_t>(row[3].as<int>());
  target.host_key = row[4].as<std::string>();
  target.host_ca = row[5].as<std::string>();
  return target;
}

const std::string& account_query() {
  static const std::string sql =
      "SELECT a.id, a.target_id, t.name, a.login, a.kind, a.sealed_secret"
      " FROM accounts a JOIN targets t ON t.id = a.target_id ";
  return sql;
}

Account account_from_row(const pqxx::row& row) {
  Account account;
  account.id = row[0].as<std::int64_t>();
  account.target_id = row[1].as<std::int64_t>();
  account.target_name = row[2].as<std::string>();
  account.login = row[3].as<std::string>();
  account.kind = credential_kind(row[4].as<std::string>());
  if (!row[5].is_null()) {
    pqxx::binarystring sealed(row[5]);
    account.sealed_secret.assign(sealed.data(), sealed.data() + sealed.size());
  }
  return account;
}

}  // namespace detail
}  // namespace portcullis::access
