// Internal to the access library: the SQL fragments and row decoders shared by its files,
// so every query reads users, targets, accounts and grants the same way.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "access/access.h"

namespace portcullis::access::detail {

// A timestamptz expression as whole microseconds since the Unix epoch (exact, unlike
// a float epoch), read back with time_at().
std::string micros(std::string_view column);
TimePoint time_at(const pqxx::field& micros_field);
std::optional<TimePoint> optional_time_at(const pqxx::field& micros_field);
// The other way: a time passed as one bigint parameter of microseconds (micros_of) and the
// exact timestamptz expression for it, from_micros("$4").
long long micros_of(TimePoint at);
std::string from_micros(std::string_view parameter);

// An optional lower time bound as one query parameter: since_condition(column, "$N") is true
// for every row when the parameter, since_parameter(bound), is 0 (no bound), so one statement
// serves listings with and without --since.
std::string since_condition(std::string_view column, std::string_view parameter);
long long since_parameter(const std::optional<TimePoint>& bound);

// Names users, targets, logins and roles may have: they appear in SSH login names
// ("alice:db01:postgres"), so ':' and spaces are out. The schema checks the same pattern.
void check_name(std::string_view what, const std::string& name);

// The WHERE condition (on alias g) for a grant usable right now, by the database's clock.
extern const char* const kGrantIsActive;

// SELECT list and joins for Grant rows; append WHERE/ORDER BY. Decode with grant_from_row.
const std::string& grant_query();
Grant grant_from_row(const pqxx::row& row);

const std::string& target_query();  // alias t

// SELECT list and joins for SessionRow rows (alias s, g, u, a, t); append WHERE. Decode with
// session_from_row.
const std::string& session_query();
SessionRow session_from_row(const pqxx::row& row);
std::string session_object(std::int64_t id);  // "session:42", the audit rows' object
// "{1,2,3}": a bigint[] literal passed as one parameter; ids are numbers, nothing to escape.
std::string id_array(const std::vector<std::int64_t>& ids);
Target target_from_row(const pqxx::row& row);

const std::string& account_query();  // aliases a, t
Account account_from_row(const pqxx::row& row);

// Denies a pending request: marks it, audits `request.denied` and wakes a requester waiting in
// `connect` or `wait` (NOTIFY portcullis_decisions). The caller has checked that it may.
void deny_request(pqxx::work& tx, const std::string& actor, const Grant& request,
                  const std::string& reason);

// Parses and normalizes an OpenSSH public key line to "type base64" (comment dropped).
// Throws AccessError naming `what` when it is not a public key libssh understands.
struct ParsedPublicKey {
  std::string normalized;
  std::string fingerprint;  // "SHA256:..."
};
ParsedPublicKey parse_public_key(const std::string& line, std::string_view what);

}  // namespace portcullis::access::detail
