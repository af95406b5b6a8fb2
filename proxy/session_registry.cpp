#include <boost/asio/post.hpp>

#include "proxy/session.h"

namespace portcullis::proxy {

void SessionRegistry::add(const std::shared_ptr<Session>& session, boost::asio::io_context& loop) {
  std::lock_guard lock(mutex_);
  sessions_[session->connection_id()] = Entry{session, &loop, 0, {}};
}

void SessionRegistry::remove(const Session& session) {
  release_target_session(session.connection_id());
  std::lock_guard lock(mutex_);
  const auto found = sessions_.find(session.connection_id());
  if (found == sessions_.end()) return;
  if (found->second.record_id != 0) records_.erase(found->second.record_id);
  sessions_.erase(found);
}

void SessionRegistry::set_record(const Session& session, std::int64_t record_id) {
  std::lock_guard lock(mutex_);
  const auto found = sessions_.find(session.connection_id());
  if (found == sessions_.end()) return;
  found->second.record_id = record_id;
  records_[record_id] = session.connection_id();
}

// The action holds the session only on its own loop: the last reference to a session is never
// dropped on another thread, so a session is always destroyed where it ran.
void SessionRegistry::post(const Entry& entry, Action action) {
  boost::asio::post(*entry.loop, [weak = entry.session, action = std::move(action)] {
    if (auto session = weak.lock()) action(*session);
  });
}

void SessionRegistry::post_to_all(const Action& action) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, entry] : sessions_) post(entry, action);
}

void SessionRegistry::post_to_record(std::int64_t record_id, Action action) const {
  std::lock_guard lock(mutex_);
  const auto record = records_.find(record_id);
  if (record == records_.end()) return;
  const auto found = sessions_.find(record->second);
  if (found != sessions_.end()) post(found->second, std::move(action));
}

std::vector<std::int64_t> SessionRegistry::record_ids() const {
  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> ids;
  ids.reserve(records_.size());
  for (const auto& [record_id, connection_id] : records_) ids.push_back(record_id);
  return ids;
}

SessionRegistry::TargetSessions SessionRegistry::hold_target_session(const Session& session,
                                                                     const std::string& user,
                                                                     int max_total,
                                                                     int max_per_user) {
  std::lock_guard lock(mutex_);
  const auto found = sessions_.find(session.connection_id());
  TargetSessions count{target_total_, 0, false};
  if (const auto mine = target_sessions_.find(user); mine != target_sessions_.end()) {
    count.of_user = mine->second;
  }
  if (found == sessions_.end()) return count;
  if (!found->second.target_user.empty()) {
    count.held = true;  // held already
    return count;
  }
  if (count.of_user >= max_per_user || count.total >= max_total) return count;
  found->second.target_user = user;
  ++target_sessions_[user];
  ++target_total_;
  count.held = true;
  return count;
}

void SessionRegistry::release_target_session(std::uint64_t connection_id) noexcept {
  try {
    std::lock_guard lock(mutex_);
    const auto found = sessions_.find(connection_id);
    if (found == sessions_.end() || found->second.target_user.empty()) return;
    const std::string user = std::exchange(found->second.target_user, {});
    --target_total_;
    if (const auto mine = target_sessions_.find(user);
        mine != target_sessions_.end() && --mine->second == 0) {
      target_sessions_.erase(mine);
    }
  } catch (...) {
    // A mutex that cannot be locked: the count stays one too high until restart.
  }
}

}  // namespace portcullis::proxy
