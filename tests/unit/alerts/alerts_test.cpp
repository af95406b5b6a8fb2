// The alert dispatcher against a real HTTP server on loopback and real /bin/sh commands.
#include "alerts/alerts.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "common/unique_fd.h"
#include "settings/settings.h"
#include "tests/support/temp_dir.h"

namespace portcullis::alerts {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Polls `condition` until it holds or `timeout` passes.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
  const auto until = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct HttpRequest {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
};

// A minimal HTTP/1.1 server on 127.0.0.1: answers the n-th request with statuses[n] (the last
// one for all after), or never answers at all when `hang` is set.
class TestWebhook {
 public:
  explicit TestWebhook(std::vector<int> statuses = {200}, bool hang = false)
      : statuses_(std::move(statuses)), hang_(hang), listener_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* raw = reinterpret_cast<sockaddr*>(&address);
    if (::bind(listener_.get(), raw, length) != 0 || ::listen(listener_.get(), 64) != 0 ||
        ::getsockname(listener_.get(), raw, &length) != 0) {
      throw std::runtime_error("cannot listen on 127.0.0.1");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  TestWebhook(const TestWebhook&) = delete;
  TestWebhook& operator=(const TestWebhook&) = delete;
  ~TestWebhook() {
    stop_ = true;
    thread_.join();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

  bool wait_for_requests(std::size_t count, std::chrono::milliseconds timeout = 5s) {
    std::unique_lock lock(mutex_);
    return arrived_.wait_for(lock, timeout, [&] { return requests_.size() >= count; });
  }

  std::vector<HttpRequest> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }

 private:
  void serve() {
    std::vector<UniqueFd> held;  // connections that never get an answer
    while (!stop_) {
      pollfd listening{listener_.get(), POLLIN, 0};
      if (::poll(&listening, 1, 20) <= 0) continue;
      UniqueFd connection(::accept(listener_.get(), nullptr, nullptr));
      if (connection.get() < 0) continue;
      std::optional<HttpRequest> request = read_request(connection.get());
      if (!request) continue;
      std::size_t index = 0;
      {
        std::lock_guard lock(mutex_);
        index = requests_.size();
        requests_.push_back(std::move(*request));
      }
      arrived_.notify_all();
      if (hang_) {
        held.push_back(std::move(connection));
        continue;
      }
      const int status = statuses_[std::min(index, statuses_.size() - 1)];
      const std::string reply = "HTTP/1.1 " + std::to_string(status) +
                                " Test\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
      static_cast<void>(::send(connection.get(), reply.data(), reply.size(), MSG_NOSIGNAL));
    }
  }

  static std::optional<HttpRequest> read_request(int fd) {
    const timeval limit{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    std::string data;
    std::size_t header_end = std::string::npos;
    std::size_t body_length = 0;
    while (header_end == std::string::npos || data.size() < header_end + 4 + body_length) {
      char buffer[4096];
      const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
      if (n <= 0) return std::nullopt;
      data.append(buffer, static_cast<std::size_t>(n));
      if (header_end == std::string::npos && (header_end = data.find("\r\n\r\n")) != data.npos) {
        body_length = content_length(data.substr(0, header_end));
      }
    }
    return parse(data.substr(0, header_end), data.substr(header_end + 4, body_length));
  }

  static std::size_t content_length(const std::string& head) {
    std::smatch match;
    static const std::regex pattern("\r\ncontent-length: *([0-9]+)", std::regex::icase);
    return std::regex_search(head, match, pattern) ? std::stoul(match[1]) : 0;
  }

  static HttpRequest parse(const std::string& head, std::string body) {
    HttpRequest request;
    std::istringstream lines(head);
    std::string line;
    std::getline(lines, line);
    std::istringstream(line) >> request.method >> request.target;
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      const std::size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      request.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    request.body = std::move(body);
    return request;
  }

  std::vector<int> statuses_;
  bool hang_;
  UniqueFd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::condition_variable arrived_;
  std::vector<HttpRequest> requests_;
  std::thread thread_;
};

// A loopback port nobody listens on: connections to it are refused at once.
std::uint16_t closed_port() {
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  auto* raw = reinterpret_cast<sockaddr*>(&address);
  if (::bind(probe.get(), raw, length) != 0 || ::getsockname(probe.get(), raw, &length) != 0) {
    throw std::runtime_error("cannot bind 127.0.0.1");
  }
  return ntohs(address.sin_port);
}

// Collects every log line while it lives; declare it before the Dispatcher so the delivery
// threads are gone before the default logger is put back.
class LogCapture {
 public:
  LogCapture() : previous_(spdlog::default_logger()), sink_(std::make_shared<Sink>()) {
    auto logger = std::make_shared<spdlog::logger>("alerts-test", sink_);
    logger->set_level(spdlog::level::debug);
    spdlog::set_default_logger(std::move(logger));
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  ~LogCapture() { spdlog::set_default_logger(previous_); }

  std::string text() const { return sink_->text(); }
  bool contains(const std::string& part) const { return text().find(part) != std::string::npos; }

 private:
  class Sink : public spdlog::sinks::base_sink<std::mutex> {
   public:
    std::string text() {
      std::lock_guard lock(mutex_);
      return text_;
    }

   protected:
    void sink_it_(const spdlog::details::log_msg& message) override {
      const spdlog::string_view_t level = spdlog::level::to_string_view(message.level);
      text_.append(level.data(), level.size());
      text_ += ' ';
      text_.append(message.payload.data(), message.payload.size());
      text_ += '\n';
    }
    void flush_() override {}

   private:
    std::string text_;
  };

  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<Sink> sink_;
};

// Short delays so that retries take milliseconds, not seconds.
DispatcherOptions fast() {
  DispatcherOptions options;
  options.retry_base = 10ms;
  options.retry_cap = 40ms;
  options.shutdown_grace = 500ms;
  return options;
}

AlertsConfig webhook_config(const std::string& url, int attempts = 6) {
  AlertsConfig config;
  config.webhook = url;
  config.webhook_attempts = attempts;
  config.webhook_timeout = 2s;
  return config;
}

AlertsConfig command_config(const std::string& command) {
  AlertsConfig config;
  config.command = command;
  return config;
}

// Runs `action` and returns how long it took.
template <typename Action>
Clock::duration timed(Action action) {
  const auto start = Clock::now();
  action();
  return Clock::now() - start;
}

const json kBreakGlass{{"user", "alice"}, {"target", "db01"}, {"reason", "INC-4211 disk full"}};

TEST(AlertWebhook, PostsTheAlertAsJson) {
  TestWebhook server;
  Dispatcher dispatcher(webhook_config(server.url("/hooks/alert?token=s3cret")), "node1", fast());
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(dispatcher.drain(5s));

  const std::vector<HttpRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 1u);
  const HttpRequest& request = requests[0];
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/hooks/alert?token=s3cret");
  EXPECT_EQ(request.headers.at("content-type"), "application/json");
  EXPECT_EQ(request.headers.at("user-agent"), "portcullis/1");
  const json body = json::parse(request.body);
  EXPECT_EQ(body.size(), 7u) << body;
  EXPECT_EQ(body.at("kind"), "break_glass");
  EXPECT_EQ(body.at("node"), "node1");
  EXPECT_EQ(body.at("id"), id);
  EXPECT_EQ(body.at("user"), "alice");
  EXPECT_EQ(body.at("target"), "db01");
  EXPECT_EQ(body.at("reason"), "INC-4211 disk full");
  EXPECT_TRUE(std::regex_match(body.at("at").get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")))
      << body.at("at");
}

TEST(AlertWebhook, RetriesWithBackoffUntilA2xx) {
  LogCapture log;
  TestWebhook server({500, 500, 204});
  Dispatcher dispatcher(webhook_config(server.url("/hook")), "node1", fast());
  const std::string id = dispatcher.send("mfa_lockout", {{"user", "bob"}});
  const Clock::duration took = timed([&] { ASSERT_TRUE(dispatcher.drain(5s)); });

  const std::vector<HttpRequest> requests = server.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].body, requests[2].body);  // the same alert, the same id
  EXPECT_GE(took, 30ms);                          // 10 ms, then 20 ms
  EXPECT_TRUE(log.contains("attempt 1/6 failed: HTTP status 500; next attempt in 10ms"))
      << log.text();
  EXPECT_TRUE(log.contains("attempt 2/6 failed: HTTP status 500; next attempt in 20ms"));
  EXPECT_TRUE(log.contains("alert id=" + id +
                           " kind=mfa_lockout delivered to webhook "
                           "http://127.0.0.1:"));
  EXPECT_FALSE(log.contains("error "));
}

TEST(AlertWebhook, GivesUpAfterTheConfiguredAttemptsWithoutLeakingTheUrl) {
  LogCapture log;
  const std::string port = std::to_string(closed_port());
  Dispatcher dispatcher(
      webhook_config("http://user:pa55@127.0.0.1:" + port + "/hook?token=s3cret#frag", 3), "node1",
      fast());
  std::string id;
  const Clock::duration took = timed([&] { id = dispatcher.send("host_key_mismatch", {}); });
  EXPECT_LT(took, 10ms);
  ASSERT_TRUE(dispatcher.drain(5s));

  const std::string text = log.text();
  EXPECT_NE(text.find("attempt 3/3 failed"), std::string::npos) << text;
  EXPECT_EQ(text.find("attempt 4/"), std::string::npos);
  EXPECT_NE(text.find("error alert id=" + id +
                      " kind=host_key_mismatch not delivered to webhook http://127.0.0.1:" + port +
                      "/hook: gave up after 3 attempts"),
            std::string::npos);
  for (const char* secret : {"s3cret", "pa55", "user:", "frag"}) {
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  }
}

TEST(AlertWebhook, SendNeverWaitsForAHangingWebhook) {
  LogCapture log;
  TestWebhook server({}, /*hang=*/true);
  AlertsConfig config = webhook_config(server.url("/hook"), 2);
  config.webhook_timeout = 1s;
  DispatcherOptions options = fast();
  options.shutdown_grace = 100ms;
  Dispatcher dispatcher(config, "node1", options);
  for (int i = 0; i < 3; ++i) {
    EXPECT_LT(timed([&] { dispatcher.send("break_glass", kBreakGlass); }), 10ms);
    ASSERT_TRUE(server.wait_for_requests(1));  // the first attempt now hangs
  }
  EXPECT_FALSE(dispatcher.drain(200ms));
  // Each attempt ends at webhook_timeout; after two the first alert is given up on.
  EXPECT_TRUE(eventually([&] { return log.contains("gave up after 2 attempts"); }, 5s));
  EXPECT_TRUE(log.contains("attempt 1/2 failed: Operation timed out")) << log.text();
}

TEST(AlertDispatcher, AHangingWebhookDoesNotDelayTheCommand) {
  test::TempDir dir;
  TestWebhook server({}, /*hang=*/true);
  AlertsConfig config = webhook_config(server.url("/hook"));
  config.webhook_timeout = 30s;
  config.command = "cat > " + (dir.path() / "alert.json").string();
  DispatcherOptions options = fast();
  options.shutdown_grace = 100ms;
  Dispatcher dispatcher(config, "node1", options);
  dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(server.wait_for_requests(1));
  EXPECT_TRUE(
      eventually([&] { return read_text(dir.path() / "alert.json").ends_with("}\n"); }, 2s));
}

TEST(AlertDispatcher, DestructorGivesUpOnAHangingWebhookWithinItsGrace) {
  LogCapture log;
  TestWebhook server({}, /*hang=*/true);
  AlertsConfig config = webhook_config(server.url("/hook"));
  config.webhook_timeout = 60s;
  DispatcherOptions options;  // the daemon's 5 s grace
  std::optional<Dispatcher> dispatcher(std::in_place, config, "node1", options);
  std::vector<std::string> ids(3);
  for (std::string& id : ids) id = dispatcher->send("break_glass", kBreakGlass);
  ASSERT_TRUE(server.wait_for_requests(1));

  const Clock::duration took = timed([&] { dispatcher.reset(); });
  EXPECT_GE(took, 4500ms);
  EXPECT_LT(took, 6s);
  EXPECT_TRUE(log.contains("alert id=" + ids[0] + " kind=break_glass not delivered to webhook " +
                           server.url("/hook") + ": shutting down"))
      << log.text();
  EXPECT_TRUE(log.contains("alerts: webhook " + server.url("/hook") +
                           " shut down with 2 undelivered alert(s), dropped: " + ids[1] + "," +
                           ids[2]));
}

TEST(AlertDispatcher, AFullQueueDropsTheOldestAlert) {
  LogCapture log;
  TestWebhook server({}, /*hang=*/true);
  AlertsConfig config = webhook_config(server.url("/hook"));
  config.webhook_timeout = 30s;
  DispatcherOptions options = fast();
  options.queue_limit = 2;
  options.shutdown_grace = 100ms;
  Dispatcher dispatcher(config, "node1", options);
  dispatcher.send("break_glass", kBreakGlass);  // in flight, hanging
  ASSERT_TRUE(server.wait_for_requests(1));
  std::vector<std::string> ids(4);
  for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = dispatcher.send("mfa_lockout", {{"n", i}});

  EXPECT_TRUE(log.contains("error alert id=" + ids[0] + " kind=mfa_lockout dropped by webhook"))
      << log.text();
  EXPECT_TRUE(log.contains("alert id=" + ids[1] + " kind=mfa_lockout dropped"));
  EXPECT_FALSE(log.contains("alert id=" + ids[2] + " kind=mfa_lockout dropped"));
  EXPECT_FALSE(log.contains("alert id=" + ids[3] + " kind=mfa_lockout dropped"));
}

TEST(AlertDispatcher, SendFromManyThreadsAtOnce) {
  TestWebhook server;
  Dispatcher dispatcher(webhook_config(server.url("/hook")), "node1", fast());
  constexpr int kThreads = 8;
  constexpr int kEach = 25;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&dispatcher, t] {
      for (int i = 0; i < kEach; ++i) dispatcher.send("sensitive_approval", {{"t", t}, {"i", i}});
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_TRUE(dispatcher.drain(20s));

  std::set<std::string> ids;
  std::set<std::pair<int, int>> seen;
  for (const HttpRequest& request : server.requests()) {
    const json body = json::parse(request.body);
    ids.insert(body.at("id").get<std::string>());
    seen.emplace(body.at("t").get<int>(), body.at("i").get<int>());
  }
  const auto expected = static_cast<std::size_t>(kThreads) * kEach;
  EXPECT_EQ(ids.size(), expected);
  EXPECT_EQ(seen.size(), expected);
}

TEST(AlertDispatcher, IdsAreUniqueAndAlertKeysCannotBeOverridden) {
  test::TempDir dir;
  const fs::path file = dir.path() / "alerts.jsonl";
  Dispatcher dispatcher(command_config("cat >> " + file.string()), "bastion-2", fast());
  const std::string first = dispatcher.send("mfa_lockout", {{"kind", "fake"}, {"node", "x"}});
  const std::string second = dispatcher.send("host_key_mismatch", json::array({"a", "b"}));
  ASSERT_TRUE(dispatcher.drain(5s));

  EXPECT_TRUE(std::regex_match(first, std::regex("bastion-2-[0-9a-f]{8}-1"))) << first;
  EXPECT_EQ(second, first.substr(0, first.size() - 1) + "2");
  std::istringstream lines(read_text(file));
  std::string line;
  std::getline(lines, line);
  const json one = json::parse(line);
  EXPECT_EQ(one.at("kind"), "mfa_lockout");
  EXPECT_EQ(one.at("node"), "bastion-2");
  std::getline(lines, line);
  const json two = json::parse(line);
  EXPECT_EQ(two.at("details"), json::array({"a", "b"}));
}

TEST(AlertCommand, GetsTheAlertJsonOnStdin) {
  test::TempDir dir;
  const fs::path file = dir.path() / "alert.json";
  Dispatcher dispatcher(command_config("cat > '" + file.string() + "'"), "node1", fast());
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(dispatcher.drain(5s));

  const std::string text = read_text(file);
  EXPECT_EQ(text.find('\n'), text.size() - 1);  // one line of JSON, like syslog's
  const json body = json::parse(text);
  EXPECT_EQ(body.at("kind"), "break_glass");
  EXPECT_EQ(body.at("id"), id);
  EXPECT_EQ(body.at("reason"), "INC-4211 disk full");
}

TEST(AlertDispatcher, AuditRowsGoOnlyToTheChannelsThatStreamThem) {
  test::TempDir dir;
  TestWebhook server;
  AlertsConfig config = webhook_config(server.url("/hook"));
  config.command = "cat >> '" + (dir.path() / "stream.json").string() + "'";
  config.audit_stream = {"command"};
  Dispatcher dispatcher(config, "node1", fast());
  ASSERT_TRUE(dispatcher.streams_audit());
  dispatcher.stream_audit({{"id", 7}, {"hash", "ab"}});
  dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(dispatcher.drain(5s));

  // The command got both; the webhook only the alert.
  const std::string text = read_text(dir.path() / "stream.json");
  const json audit = json::parse(text.substr(0, text.find('}') + 2));
  EXPECT_EQ(audit.at("kind"), "audit");
  EXPECT_EQ(audit.at("audit").at("id"), 7);
  EXPECT_NE(text.find("break_glass"), std::string::npos);
  ASSERT_TRUE(server.wait_for_requests(1));
  EXPECT_EQ(json::parse(server.requests().front().body).at("kind"), "break_glass");
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST(AlertDispatcher, AnAuditStreamToAChannelNotSetUpIsRefused) {
  AlertsConfig config;
  config.syslog = true;
  config.audit_stream = {"webhook"};
  try {
    Dispatcher dispatcher(config, "node1", fast());
    ADD_FAILURE() << "a stream to a missing webhook was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "[alerts] audit_stream names webhook, but [alerts] webhook is not set; set it "
                 "or leave webhook out of audit_stream");
  }
  config.audit_stream.clear();
  EXPECT_FALSE(Dispatcher(config, "node1", fast()).streams_audit());
}

// Restores (unsets) an environment variable when the test ends.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) { ::setenv(name, value, 1); }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() { ::unsetenv(name_); }

 private:
  const char* name_;
};

TEST(AlertCommand, RunsWithACleanEnvironmentAndNoInheritedFds) {
  test::TempDir dir;
  ScopedEnv secret("PORTCULLIS_TEST_SECRET", "hunter2");
  // Without O_CLOEXEC, as a careless library in the daemon might open it.
  const UniqueFd stray(::open("/dev/null", O_RDONLY));
  ASSERT_GE(stray.get(), 3);
  const std::string d = dir.path().string();
  const std::string command = "env > " + d + "/env; pwd > " + d + "/pwd; " +
                              "if [ -e /proc/self/fd/" + std::to_string(stray.get()) +
                              " ]; then echo leaked; else echo closed; fi > " + d + "/fd";
  Dispatcher dispatcher(command_config(command), "node1", fast());
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(dispatcher.drain(5s));

  std::map<std::string, std::string> environment;
  std::istringstream lines(read_text(dir.path() / "env"));
  for (std::string line; std::getline(lines, line);) {
    environment[line.substr(0, line.find('='))] = line.substr(line.find('=') + 1);
  }
  EXPECT_EQ(environment["PATH"], "/usr/sbin:/usr/bin:/sbin:/bin");
  EXPECT_EQ(environment["PORTCULLIS_ALERT_KIND"], "break_glass");
  EXPECT_EQ(environment["PORTCULLIS_ALERT_ID"], id);
  // What /bin/sh adds by itself is fine; nothing may come from this process.
  const std::set<std::string> allowed{
      "PATH", "PORTCULLIS_ALERT_KIND", "PORTCULLIS_ALERT_ID", "PWD", "OLDPWD", "SHLVL", "_"};
  for (const auto& [name, value] : environment) {
    EXPECT_TRUE(allowed.contains(name)) << name << "=" << value;
  }
  EXPECT_EQ(read_text(dir.path() / "pwd"), "/\n");
  EXPECT_EQ(read_text(dir.path() / "fd"), "closed\n");
}

TEST(AlertCommand, LogsTheOutputOfAFailedCommand) {
  LogCapture log;
  Dispatcher dispatcher(command_config("cat > /dev/null; echo to-stdout; echo 'to\nstderr' >&2; "
                                       "exit 3"),
                        "node1", fast());
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(dispatcher.drain(5s));
  EXPECT_TRUE(
      log.contains("error alert id=" + id +
                   " kind=break_glass command failed: exit status 3; stdout: \"to-stdout\"; "
                   "stderr: \"to stderr\""))
      << log.text();
}

TEST(AlertCommand, ACommandThatIgnoresStdinIsFine) {
  LogCapture log;
  test::TempDir dir;
  // Exits before reading a byte: writing the JSON then fails with EPIPE, which must neither kill
  // the test process with SIGPIPE nor count as a failure.
  Dispatcher dispatcher(command_config("exec 0<&-; touch " + (dir.path() / "ran").string()),
                        "node1", fast());
  dispatcher.send("break_glass", kBreakGlass);
  ASSERT_TRUE(dispatcher.drain(5s));
  EXPECT_TRUE(fs::exists(dir.path() / "ran"));
  EXPECT_FALSE(log.contains("error")) << log.text();
}

// "R", "S", ... from /proc/PID/stat; "" once the process is gone.
std::string process_state(const std::string& pid) {
  std::istringstream stat(read_text("/proc/" + pid + "/stat"));
  std::string ignored;
  std::string state;
  stat >> ignored >> ignored >> state;
  return state;
}

TEST(AlertCommand, IsKilledWithWhatItStartedAfterItsTimeLimit) {
  LogCapture log;
  test::TempDir dir;
  const fs::path pid_file = dir.path() / "pid";
  DispatcherOptions options = fast();
  options.command_timeout = 300ms;
  Dispatcher dispatcher(command_config("sleep 30 & echo $! > " + pid_file.string() + "; wait"),
                        "node1", options);
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  const Clock::duration took = timed([&] { ASSERT_TRUE(dispatcher.drain(5s)); });
  EXPECT_LT(took, 2s);
  EXPECT_TRUE(log.contains("error alert id=" + id +
                           " kind=break_glass command failed: killed after running for 300ms"))
      << log.text();
  const std::string sleeper = read_text(pid_file).substr(0, read_text(pid_file).find('\n'));
  ASSERT_FALSE(sleeper.empty());
  // Gone, or a zombie waiting for whoever reaps orphans in this container: not sleeping.
  EXPECT_TRUE(eventually([&] {
    const std::string state = process_state(sleeper);
    return state.empty() || state == "Z";
  })) << process_state(sleeper);
}

TEST(AlertCommand, AChattyCommandIsStillStoppedAtItsTimeLimit) {
  LogCapture log;
  DispatcherOptions options = fast();
  options.command_timeout = 300ms;
  Dispatcher dispatcher(command_config("yes"), "node1", options);
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  EXPECT_TRUE(dispatcher.drain(2s));
  EXPECT_TRUE(log.contains("error alert id=" + id +
                           " kind=break_glass command failed: killed after running for 300ms "
                           "(time limit); stdout: \"y y y"))
      << log.text();
}

TEST(AlertSyslog, DeliversWithoutASyslogDaemonToo) {
  AlertsConfig config;
  config.syslog = true;
  Dispatcher dispatcher(config, "node1", fast());
  EXPECT_TRUE(dispatcher.enabled());
  dispatcher.send("sensitive_approval", {{"rule", "prod-db"}, {"approver", "carol"}});
  EXPECT_TRUE(dispatcher.drain(5s));
}

TEST(AlertDispatcher, WithoutChannelsSendOnlyLogs) {
  LogCapture log;
  Dispatcher dispatcher(AlertsConfig{}, "node1", fast());
  EXPECT_FALSE(dispatcher.enabled());
  const std::string id = dispatcher.send("break_glass", kBreakGlass);
  EXPECT_TRUE(dispatcher.drain(0ms));
  EXPECT_TRUE(log.contains("info alert id=" + id + " kind=break_glass raised")) << log.text();
}

}  // namespace
}  // namespace portcullis::alerts
