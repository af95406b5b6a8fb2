#include <libpq-fe.h>

#include <cctype>
#include <memory>
#include <string_view>

#include "common/common.h"
#include "store/store.h"

namespace portcullis::store {
namespace {

struct ConninfoDeleter {
  void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using Conninfo = std::unique_ptr<PQconninfoOption, ConninfoDeleter>;

// The parts of a connection string that are safe to show, and the password to keep out
// of every message (libpq may echo parts of the string back in its errors).
struct UrlParts {
  std::string described;  // e.g. "database portcullis on /run/postgresql"
  std::string password;
  bool has_connect_timeout = false;
};

// libpq waits for a connection as long as the operating system does (minutes, when a failed-over
// address drops packets), holding a worker that logins need. A URL that says nothing gets this.
constexpr const char* kDefaultConnectTimeout = "5";

std::string option_value(const PQconninfoOption* options, std::string_view keyword) {
  for (const PQconninfoOption* option = options; option->keyword != nullptr; ++option) {
    if (keyword == option->keyword && option->val != nullptr) return option->val;
  }
  return "";
}

UrlParts split_url(const std::string& url) {
  char* error = nullptr;
  Conninfo options(PQconninfoParse(url.c_str(), &error));
  if (!options) {
    // The parse error may quote the string, password included: never show it.
    PQfreemem(error);
    throw DatabaseUnavailable(
        "the database url in [database] url is not a valid libpq connection string");
  }
  std::string database = option_value(options.get(), "dbname");
  std::string host = option_value(options.get(), "host");
  std::string port = option_value(options.get(), "port");
  std::string described = "database " + (database.empty() ? std::string("(default)") : database);
  if (!host.empty()) described += " on " + host;
  if (!port.empty()) described += " port " + port;
  return {described, option_value(options.get(), "password"),
          !option_value(options.get(), "connect_timeout").empty()};
}

std::string with_connect_timeout(const std::string& url, const UrlParts& parts) {
  if (parts.has_connect_timeout) return url;
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") +
           "connect_timeout=" + kDefaultConnectTimeout;
  }
  return url + " connect_timeout=" + kDefaultConnectTimeout;
}

std::string without(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (auto at = text.find(secret); at != std::string::npos; at = text.find(secret, at)) {
    text.replace(at, secret.size(), "***");
  }
  return text;
}

}  // namespace

Database::Database(std::string url) : url_(std::move(url)) {}

pqxx::connection& Database::connection() {
  if (conn_ && conn_->is_open()) return *conn_;
  conn_.reset();
  UrlParts parts = split_url(url_);
  try {
    conn_ = std::make_unique<pqxx::connection>(with_connect_timeout(url_, parts));
  } catch (const pqxx::broken_connection& e) {
    throw DatabaseUnavailable("cannot connect to " + parts.described + ": " +
                              one_line(without(e.what(), parts.password)));
  } catch (const pqxx::failure& e) {
    // Bad credentials or an unknown database also arrive here; same fail-closed handling.
    throw DatabaseUnavailable("cannot connect to " + parts.described + ": " +
                              one_line(without(e.what(), parts.password)));
  }
  return *conn_;
}

void Database::reset() { conn_.reset(); }

std::string Database::connection_lost(const pqxx::failure& error) const {
  UrlParts parts = split_url(url_);
  return "lost the connection to " + parts.described + ": " +
         one_line(without(error.what(), parts.password));
}

bool is_connection_failure(const pqxx::failure& error) {
  if (dynamic_cast<const pqxx::in_doubt_error*>(&error) != nullptr) return false;
  if (dynamic_cast<const pqxx::broken_connection*>(&error) != nullptr) return true;
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&error)) {
    // Class 08: connection exception; 57P01-57P03: the server is shutting down or starting.
    const std::string& state = sql->sqlstate();
    return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03";
  }
  // A serialization failure or deadlock: the statement's fault, and the connection is fine.
  if (dynamic_cast<const pqxx::transaction_rollback*>(&error) != nullptr) return false;
  // libpqxx reports a connection that died under a statement in several other ways (a plain
  // failure with the server's "terminating connection" text, or no state at all).
  return true;
}

}  // namespace portcullis::store
