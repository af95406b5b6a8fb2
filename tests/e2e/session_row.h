// A session row in a bastion's database for the tests that store recordings without sshd
// (recording_cli_test.cpp, live_shipping_test.cpp).
#pragma once

#include <cstdint>
#include <string>

#include "tests/support/harness.h"

namespace portcullis::e2e {

// A session row to hang a recording on: user, target, account and grant made in SQL, since
// no sshd is needed for this.
inline std::int64_t make_session(const Bastion& bastion) {
  const std::string id = PostgresCluster::shared().query(
      bastion.database(),
      "INSERT INTO users (name) VALUES ('alice');"
      "INSERT INTO targets (name, host, port, host_key) VALUES ('db01', '127.0.0.1', 22, 'k');"
      "INSERT INTO accounts (target_id, login, kind, sealed_secret) "
      "  SELECT id, 'postgres', 'key', decode(repeat('00', 64), 'hex') FROM targets;"
      "INSERT INTO grants (user_id, account_id, reason, duration, starts_at, expires_at, "
      "  created_by) SELECT u.id, a.id, 'INC-1 disk full', '1 hour', now(), "
      "  now() + interval '1 hour', 'e2e' FROM users u, accounts a;"
      "INSERT INTO sessions (grant_id, node, client) SELECT id, 'e2e', '127.0.0.1:50000' "
      "  FROM grants RETURNING id;");
  return std::stoll(id.substr(id.find_last_of('\n') + 1));
}

}  // namespace portcullis::e2e
