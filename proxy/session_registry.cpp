#include "proxy/session.h"

namespace portcullis::proxy {

void SessionRegistry::add(const std::shared_ptr<Session>& session) {
  sessions_[session->connection_id()] = session;
}

void SessionRegistry::remove(const Session& session) { sessions_.erase(session.connection_id()); }

std::shared_ptr<Session> SessionRegistry::find_record(std::int64_t record_id) const {
  for (const auto& [id, weak] : sessions_) {
    auto session = weak.lock();
    if (session && session->record_id() == record_id) return session;
  }
  return nullptr;
}

std::vector<std::shared_ptr<Session>> SessionRegistry::all() const {
  std::vector<std::shared_ptr<Session>> result;
  for (const auto& [id, weak] : sessions_) {
    if (auto session = weak.lock()) result.push_back(std::move(session));
  }
  return result;
}

std::vector<std::int64_t> SessionRegistry::record_ids() const {
  std::vector<std::int64_t> ids;
  for (const auto& session : all()) {
    if (session->record_id() != 0) ids.push_back(session->record_id());
  }
  return ids;
}

}  // namespace portcullis::proxy
