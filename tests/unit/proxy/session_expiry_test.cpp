#include "proxy/session_expiry.h"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>

#include "common/common.h"

namespace portcullis::proxy {
namespace {

using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

// Far from this machine's date: every deadline must come from the injected clock.
const access::TimePoint kBase = access::TimePoint{std::chrono::seconds(1893456000)};  // 2030

struct Seen {
  std::chrono::milliseconds at;  // after the test started
  std::string what;              // "notice", "warning" or the end reason
  std::string text;
};

class RecordingEvents : public SessionExpiry::Events {
 public:
  explicit RecordingEvents(Steady::time_point start) : start_(start) {}
  void expiry_notice(const std::string& notice, const std::string&) override {
    seen.push_back({elapsed(), "notice", notice});
  }
  bool expiry_warning(const std::string& notice, const std::string&) override {
    seen.push_back({elapsed(), "warning", notice});
    return running;
  }
  void expiry_reached(access::EndReason reason, const std::string& notice,
                      std::optional<access::TimePoint> due) override {
    seen.push_back({elapsed(), access::to_string(reason), notice});
    dues.push_back(due);
  }
  std::vector<Seen> seen;
  std::vector<std::optional<access::TimePoint>> dues;  // of each end, in order
  bool running = true;

 private:
  std::chrono::milliseconds elapsed() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start_);
  }
  Steady::time_point start_;
};

class SessionExpiryTest : public ::testing::Test {
 protected:
  const Steady::time_point start_ = Steady::now();
  boost::asio::io_context loop_;
  // The database's time runs at the pace of the steady clock, from kBase.
  DatabaseClock clock_{[start = start_] { return kBase + (Steady::now() - start); }};

  std::shared_ptr<RecordingEvents> events_ = std::make_shared<RecordingEvents>(start_);

  std::unique_ptr<SessionExpiry> expiry(std::vector<std::chrono::seconds> warn_before) {
    auto made = std::make_unique<SessionExpiry>(loop_, clock_, std::move(warn_before));
    made->tell(events_);
    made->set_grant({7, "alice", std::nullopt, ""});
    return made;
  }

  // Runs `action` `after` from the start of the test.
  void at(std::chrono::milliseconds after, std::function<void()> action) {
    auto timer = std::make_shared<boost::asio::steady_timer>(loop_, start_ + after);
    timer->async_wait([timer, action = std::move(action)](boost::system::error_code) { action(); });
  }

  void run_for(std::chrono::milliseconds limit) { loop_.run_until(start_ + limit); }

  static void expect_near(std::chrono::milliseconds seen, std::chrono::milliseconds expected) {
    EXPECT_GE(seen, expected - 5ms);
    EXPECT_LE(seen, expected + 250ms);
  }
};

// The largest threshold still ahead comes first; none once all have passed.
TEST(NextWarning, PicksTheLargestThresholdStillAhead) {
  const std::vector<std::chrono::seconds> warn_before{60s, 300s, 10s};
  EXPECT_EQ(next_warning(kBase, kBase + 1h, warn_before), 300s);
  EXPECT_EQ(next_warning(kBase, kBase + 299s, warn_before), 60s);
  EXPECT_EQ(next_warning(kBase, kBase + 10s, warn_before), std::nullopt);
  EXPECT_EQ(next_warning(kBase, kBase + 11s, warn_before), 10s);
}

// A warning warn_before ahead of the end, then the end itself, both by the injected clock.
TEST_F(SessionExpiryTest, WarnsThenEndsOnTime) {
  auto session = expiry({1s});
  session->set_expiry(kBase + 1300ms);
  run_for(2s);
  ASSERT_EQ(events_->seen.size(), 2u);
  EXPECT_EQ(events_->seen[0].what, "warning");
  expect_near(events_->seen[0].at, 300ms);
  EXPECT_EQ(events_->seen[0].text,
            "grant 7 ends in 1s (at " + format_rfc3339(kBase + 1300ms) +
                "); for more time: ssh alice@<this bastion> extend 7 --for DURATION --reason TEXT");
  EXPECT_EQ(events_->seen[1].what, "grant_expired");
  expect_near(events_->seen[1].at, 1300ms);
  EXPECT_EQ(events_->seen[1].text, "grant 7 expired at " + format_rfc3339(kBase + 1300ms) +
                                       "; session closed. Ask for a new grant to continue.");
  // What the lateness metric measures from: the grant's end, by the database's clock.
  ASSERT_EQ(events_->dues.size(), 1u);
  EXPECT_EQ(events_->dues[0], kBase + 1300ms);
}

// An extension re-arms the end: the old end passes without a word.
TEST_F(SessionExpiryTest, AnExtensionMovesTheEnd) {
  auto session = expiry({});
  session->set_expiry(kBase + 300ms);
  at(100ms, [&] { session->set_expiry(kBase + 900ms); });
  run_for(1500ms);
  ASSERT_EQ(events_->seen.size(), 2u);
  EXPECT_EQ(events_->seen[0].text,
            "grant 7 was extended; it now ends at " + format_rfc3339(kBase + 900ms));
  expect_near(events_->seen[0].at, 100ms);
  EXPECT_EQ(events_->seen[1].what, "grant_expired");
  expect_near(events_->seen[1].at, 900ms);
}

// A revoked extension brings the end back; one already past ends the session at once.
TEST_F(SessionExpiryTest, ARevokedExtensionTakesTheTimeBack) {
  auto session = expiry({});
  session->set_expiry(kBase + 1h);
  at(100ms, [&] { session->set_expiry(kBase + 400ms); });
  run_for(1s);
  ASSERT_EQ(events_->seen.size(), 2u);
  EXPECT_EQ(events_->seen[0].text,
            "grant 7 lost its extension, which was revoked; it now ends at " +
                format_rfc3339(kBase + 400ms));
  EXPECT_EQ(events_->seen[1].what, "grant_expired");
  expect_near(events_->seen[1].at, 400ms);

  events_->seen.clear();
  session->set_expiry(kBase);
  ASSERT_EQ(events_->seen.size(), 1u);
  EXPECT_EQ(events_->seen[0].what, "revoked");
  EXPECT_EQ(events_->seen[0].text, "grant 7 lost its extension, which was revoked; it ended at " +
                                       format_rfc3339(kBase) + "; session closed");
  // When the extension was revoked is not known here: nothing to measure lateness from.
  EXPECT_EQ(events_->dues.back(), std::nullopt);
}

// With enforce_hours = "session", allowed hours that end before the grant end the session.
TEST_F(SessionExpiryTest, AllowedHoursEndingFirstEndTheSession) {
  auto session = expiry({1s});
  session->set_grant({7, "alice", kBase + 1200ms, "Mon-Fri 09:00-18:00"});
  session->set_expiry(kBase + 1h);
  run_for(2s);
  ASSERT_EQ(events_->seen.size(), 2u);
  EXPECT_EQ(events_->seen[0].text,
            "the allowed hours of grant 7 (Mon-Fri 09:00-18:00) end in 1s "
            "(at " +
                format_rfc3339(kBase + 1200ms) + "); connect again when they start again");
  expect_near(events_->seen[0].at, 200ms);
  EXPECT_EQ(events_->seen[1].text, "the allowed hours of grant 7 (Mon-Fri 09:00-18:00) ended at " +
                                       format_rfc3339(kBase + 1200ms) +
                                       "; session closed. Connect again when they start again.");
  expect_near(events_->seen[1].at, 1200ms);
  ASSERT_EQ(events_->dues.size(), 1u);
  EXPECT_EQ(events_->dues[0], kBase + 1200ms);
}

// Deadlines follow the database's clock, not this node's: a database 10 minutes ahead ends
// a grant that ends 10 minutes from the node's point of view now.
TEST_F(SessionExpiryTest, FollowsTheDatabaseClockOffset) {
  auto session = expiry({});
  clock_.observe(kBase + 10min, kBase, kBase);
  session->set_expiry(kBase + 10min + 300ms);
  run_for(1s);
  ASSERT_EQ(events_->seen.size(), 1u);
  expect_near(events_->seen[0].at, 300ms);
}

// A session that stopped running gets no further warnings; stop() cancels the end.
TEST_F(SessionExpiryTest, NoWarningsOnceStopped) {
  auto session = expiry({2s, 1s});
  events_->running = false;
  session->set_expiry(kBase + 2200ms);
  at(500ms, [&] { session->stop(); });
  run_for(2500ms);
  ASSERT_EQ(events_->seen.size(), 1u);
  EXPECT_EQ(events_->seen[0].what, "warning");
  expect_near(events_->seen[0].at, 200ms);
}

}  // namespace
}  // namespace portcullis::proxy
