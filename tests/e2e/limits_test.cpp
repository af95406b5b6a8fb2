// Connection limits (issue 14, item 1) against the real portcullisd: only modern key exchange
// and ciphers are offered; connections not yet authenticated are capped overall (MaxStartups)
// and per source address; the login grace time covers a connection that never speaks and a
// control reply the client never takes; connections stalled in their handshake give their place
// to newcomers; sessions are capped per user; failed logins slow only their own address. Limit
// hits are audited once per source and limit, not per connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// A TCP connection that sends nothing: an unauthenticated connection as a flood makes them.
class SilentConnection {
 public:
  explicit SilentConnection(std::uint16_t port, const char* from = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    ::inet_pton(AF_INET, from, &local.sin_addr);
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      throw std::runtime_error("cannot bind to " + std::string(from));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      throw std::runtime_error("cannot connect to the bastion");
    }
  }
  ~SilentConnection() { ::close(fd_); }

  // Sends an SSH identification line and nothing after it, and waits until the server has
  // read it (its key exchange offer follows): a client stuck in key exchange.
  void identify() {
    const std::string line = "SSH-2.0-limits-test\r\n";
    ASSERT_EQ(::write(fd_, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    const std::size_t before = received_.size();
    const auto deadline = Clock::now() + 5s;
    while (received_.size() == before && Clock::now() < deadline) {
      pollfd fd{fd_, POLLIN, 0};
      if (::poll(&fd, 1, 100) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) break;
      received_.append(buffer, static_cast<std::size_t>(n));
    }
    ASSERT_GT(received_.size(), before) << "no key exchange offer after the identification line";
  }
  SilentConnection(const SilentConnection&) = delete;
  SilentConnection& operator=(const SilentConnection&) = delete;

  enum class Seen { banner, closed, nothing };
  // What the server does within `timeout`: greets (an SSH banner), hangs up, or neither. Once
  // greeted, a later wait looks only for the hang-up.
  Seen wait(std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd fd{fd_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) <= 0) {
        return Seen::nothing;
      }
      char buffer[4096];
      const ssize_t n = ::read(fd_, buffer, sizeof buffer);
      if (n <= 0) return Seen::closed;
      const bool greeted_before = received_.starts_with("SSH-2.0");
      received_.append(buffer, static_cast<std::size_t>(n));
      if (!greeted_before && received_.starts_with("SSH-2.0")) return Seen::banner;
    }
  }

 private:
  int fd_ = -1;
  std::string received_;
};

class Limits : public ::testing::Test {
 protected:
  void start(std::string_view server_config) {
    bastion.add_server_config(server_config);
    alice = bastion.add_user("alice");
    bob = bastion.add_user("bob");
    bastion.add_target("db01", target);
    bastion.add_key_account("db01", target);
    bastion.add_grant("alice", "db01", target.account());
    bastion.add_grant("bob", "db01", target.account());
    bastion.start();
  }

  RunResult ssh_as(const KeyPair& key, const std::string& login,
                   const std::vector<std::string>& command,
                   const std::vector<std::string>& extra = {}) {
    return run_ssh(key.private_key, bastion.port(), login, command, RunOptions().with_timeout(60s),
                   extra);
  }

  int limit_audit_rows(const std::string& limit) {
    return std::stoi(PostgresCluster::shared().query(
        bastion.database(),
        "SELECT count(*) FROM audit_events WHERE action = 'connection.limited' AND details->>"
        "'limit' = '" +
            limit + "'"));
  }

  TargetSshd target;
  Bastion bastion;
  KeyPair alice;
  KeyPair bob;
};

TEST_F(Limits, OnlyModernKeyExchangeAndCiphersAreOffered) {
  start("");
  EXPECT_EQ(ssh_as(alice, "alice+db01", {"echo fine"}).out, "fine\n");
  const RunResult dh = ssh_as(alice, "alice+db01", {"echo dh"},
                              {"-o", "KexAlgorithms=diffie-hellman-group16-sha512"});
  // The client can see the refusal and exit before the daemon has logged it.
  auto logged = [&](const std::string& text) {
    return wait_until([&] { return bastion.log().find(text) != std::string::npos; }, 5s);
  };
  EXPECT_NE(dh.exit_status, 0);
  EXPECT_TRUE(logged("no match for method kex algos")) << bastion.log();
  const RunResult ctr = ssh_as(alice, "alice+db01", {"echo ctr"}, {"-o", "Ciphers=aes128-ctr"});
  EXPECT_NE(ctr.exit_status, 0);
  EXPECT_TRUE(logged("no match for method encryption client->server")) << bastion.log();
  const RunResult rsa =
      ssh_as(alice, "alice+db01", {"echo rsa"}, {"-o", "HostKeyAlgorithms=rsa-sha2-512"});
  EXPECT_NE(rsa.exit_status, 0) << "an RSA host key algorithm was offered";
}

TEST_F(Limits, UnauthenticatedConnectionsAreCappedPerSourceAndOverall) {
  start("per_source_max_startups = 3\nmax_startups = \"5:100:5\"\nlogin_grace_time = \"60s\"");
  std::vector<std::unique_ptr<SilentConnection>> held;
  // Each says which SSH version it speaks, then stalls: in key exchange, such a connection
  // keeps its place for a second before a newcomer may take it (see the next test).
  for (int i = 0; i < 3; ++i) {
    held.push_back(std::make_unique<SilentConnection>(bastion.port()));
    ASSERT_EQ(held.back()->wait(5s), SilentConnection::Seen::banner);
    held.back()->identify();
  }
  // A fourth from the same address is dropped before a byte is sent.
  SilentConnection fourth(bastion.port());
  EXPECT_EQ(fourth.wait(5s), SilentConnection::Seen::closed);
  // Another address still gets in, up to max_startups (5 in all).
  std::vector<std::unique_ptr<SilentConnection>> others;
  for (const char* from : {"127.0.0.2", "127.0.0.3"}) {
    others.push_back(std::make_unique<SilentConnection>(bastion.port(), from));
    EXPECT_EQ(others.back()->wait(5s), SilentConnection::Seen::banner) << from;
    others.back()->identify();
  }
  SilentConnection beyond(bastion.port(), "127.0.0.4");
  EXPECT_EQ(beyond.wait(5s), SilentConnection::Seen::closed);
  // Authenticated connections do not count: freeing the silent ones lets logins in again.
  held.clear();
  others.clear();
  EXPECT_TRUE(
      wait_until([&] { return ssh_as(alice, "alice+db01", {"true"}).exit_status == 0; }, 10s))
      << bastion.log();
  EXPECT_TRUE(wait_until(
      [&] {
        return limit_audit_rows("per_source_max_startups") == 1 &&
               limit_audit_rows("max_startups") == 1;
      },
      5s))
      << "each limit is audited once per source and minute";
}

// Slowloris: connections that never finish their handshake hold every unauthenticated place.
// A newcomer that would be dropped takes the place of the oldest one that has not even sent its
// identification line instead, so a real client still gets in; the stalled address is audited.
TEST_F(Limits, StalledHandshakesGiveTheirPlaceToNewcomers) {
  start("max_startups = \"3\"\nlogin_grace_time = \"60s\"");
  std::vector<std::unique_ptr<SilentConnection>> stalled;
  for (const char* from : {"127.0.0.2", "127.0.0.3", "127.0.0.4"}) {
    stalled.push_back(std::make_unique<SilentConnection>(bastion.port(), from));
    ASSERT_EQ(stalled.back()->wait(5s), SilentConnection::Seen::banner) << from;
  }
  EXPECT_EQ(ssh_as(alice, "alice+db01", {"echo in"}).out, "in\n") << bastion.log();
  EXPECT_EQ(stalled.front()->wait(5s), SilentConnection::Seen::closed) << "the oldest went";
  EXPECT_EQ(stalled.back()->wait(100ms), SilentConnection::Seen::nothing) << "only the oldest";
  EXPECT_TRUE(wait_until([&] { return limit_audit_rows("stalled_handshake") == 1; }, 5s));
  EXPECT_EQ(PostgresCluster::shared().query(
                bastion.database(),
                "SELECT details->>'source' FROM audit_events WHERE action = 'connection.limited' "
                "AND details->>'limit' = 'stalled_handshake'"),
            "127.0.0.2");
}

TEST_F(Limits, LoginGraceTimeEndsSilentConnectionsAndUntakenReplies) {
  // paramiko 2.12 (Debian bookworm) knows neither ChaCha20-Poly1305 nor AES-GCM.
  start(
      "login_grace_time = \"3s\"\n"
      "ciphers = \"aes128-gcm@openssh.com,aes128-ctr\"\nmacs = \"hmac-sha2-256\"");
  SilentConnection silent(bastion.port());
  ASSERT_EQ(silent.wait(5s), SilentConnection::Seen::banner);
  const auto opened = Clock::now();
  EXPECT_EQ(silent.wait(10s), SilentConnection::Seen::closed);
  EXPECT_LE(Clock::now() - opened, 6s);

  // A client that logs in, asks for a control command's reply and never opens its window to
  // take it: paramiko with a zero window (its API clamps windows to 32 KiB, hence the patch).
  const std::string script = R"(
import sys, time, paramiko
key = paramiko.Ed25519Key.from_private_key_file(sys.argv[1])
t = paramiko.Transport(("127.0.0.1", int(sys.argv[2])))
t.connect(username="alice", pkey=key)
t._sanitize_window_size = lambda size: 0
chan = t.open_session()
chan.exec_command("help")
start = time.time()
while t.is_active() and time.time() - start < 20:
    time.sleep(0.1)
print("closed" if not t.is_active() else "open", round(time.time() - start, 1))
)";
  const RunResult held = run({"/usr/bin/python3", "-c", script, alice.private_key.string(),
                              std::to_string(bastion.port())},
                             RunOptions().with_timeout(40s));
  EXPECT_TRUE(held.out.starts_with("closed")) << held.out << held.err << bastion.log();
}

TEST_F(Limits, SessionsPerUserAreCapped) {
  start("max_sessions_per_user = 2");
  std::vector<std::unique_ptr<PipedProcess>> open;
  auto argv = [&](const KeyPair& key, const std::string& login) {
    std::vector<std::string> command{"ssh"};
    for (const std::string& option : ssh_client_options(key.private_key, bastion.port())) {
      command.push_back(option);
    }
    command.insert(command.end(), {login + "@127.0.0.1", "sleep 60"});
    return command;
  };
  for (int i = 0; i < 2; ++i) {
    open.push_back(std::make_unique<PipedProcess>(argv(alice, "alice+db01")));
    ASSERT_TRUE(wait_until(
        [&] {
          return json::parse(bastion.cli_checked({"session", "list", "--active", "--json"}))
                     .size() == static_cast<std::size_t>(i + 1);
        },
        20s));
  }
  const RunResult third = ssh_as(alice, "alice+db01", {"echo third"});
  EXPECT_EQ(third.exit_status, 255);
  EXPECT_NE(third.err.find("portcullis: access denied: alice already has 2 sessions open"),
            std::string::npos)
      << third.err;
  EXPECT_EQ(ssh_as(bob, "bob+db01", {"echo bob"}).out, "bob\n") << "another user is not limited";
}

TEST_F(Limits, FailedLoginsSlowOnlyTheirOwnAddress) {
  start("");
  const KeyPair stranger = generate_key(bastion.dir() / "stranger");
  // Refused logins from 127.0.0.2: each one makes the next from that address wait longer.
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(ssh_as(stranger, "alice+db01", {"true"}, {"-b", "127.0.0.2"}).exit_status, 255);
  }
  const auto before = Clock::now();
  const RunResult slowed = ssh_as(alice, "alice+db01", {"true"}, {"-b", "127.0.0.2"});
  const auto slowed_took = Clock::now() - before;
  EXPECT_EQ(slowed.exit_status, 0) << slowed.err;
  EXPECT_GE(slowed_took, 4s) << "the address that failed was not slowed";

  const auto fast_start = Clock::now();
  EXPECT_EQ(ssh_as(alice, "alice+db01", {"true"}).exit_status, 0);
  EXPECT_LE(Clock::now() - fast_start, 2s) << "another address was slowed";
  EXPECT_EQ(limit_audit_rows("auth_back_off"), 1) << "audited once per source and minute";
}

}  // namespace
}  // namespace portcullis::e2e
