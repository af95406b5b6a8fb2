// End-to-end tests of the gateway: the real OpenSSH client talks to portcullisd, which checks
// PostgreSQL and logs in to a real sshd with a vaulted credential.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <future>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

using Clock = std::chrono::system_clock;

// The lines of `text` that start with `prefix`.
std::vector<std::string> lines_starting_with(const std::string& text, std::string_view prefix) {
  std::vector<std::string> found;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(prefix)) found.push_back(line);
  }
  return found;
}

std::string describe(const RunResult& r) {
  return "exit status " + std::to_string(r.exit_status) + (r.timed_out ? " (timed out)" : "") +
         "\n--- stdout:\n" + r.out.substr(0, 2000) + "\n--- stderr:\n" + r.err.substr(0, 4000);
}

// The client was refused the way the issue says: one "access denied" line, status 255.
void expect_denied(const RunResult& r, const std::string& daemon_log) {
  EXPECT_EQ(r.exit_status, 255) << describe(r);
  EXPECT_EQ(lines_starting_with(r.err, "portcullis: access denied:").size(), 1u)
      << describe(r) << "\n--- daemon log:\n"
      << daemon_log;
  EXPECT_EQ(r.out, "") << describe(r);
}

nlohmann::json cli_json(const Bastion& bastion, const std::vector<std::string>& args) {
  return nlohmann::json::parse(bastion.cli_checked(args));
}

// Polls `session list --active --json` until some session is open.
bool wait_for_active_session(const Bastion& bastion, std::chrono::milliseconds timeout) {
  return wait_until(
      [&] {
        return !cli_json(bastion, {"session", "list", "--active", "--json"}).empty();
      },
      timeout);
}

nlohmann::json only_session(const Bastion& bastion) {
  const auto sessions = cli_json(bastion, {"session", "list", "--json"});
  if (sessions.size() != 1) throw std::runtime_error("expected one session: " + sessions.dump());
  return sessions.at(0);
}

Clock::time_point grant_expiry(const Bastion& bastion, const std::string& grant_id) {
  const std::string epoch = PostgresCluster::shared().query(
      bastion.database(),
      "SELECT extract(epoch FROM expires_at) FROM grants WHERE id = " + grant_id);
  return Clock::time_point(
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(std::stod(epoch))));
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// ssh with the user's key through the gateway.
RunResult ssh(const Gateway& gw, const std::vector<std::string>& command,
              const RunOptions& options = {}, const std::vector<std::string>& ssh_args = {}) {
  return run_ssh(gw.user_key.private_key, gw.bastion.port(), gw.login(), command, options,
                 ssh_args);
}

// ---------------------------------------------------------------------------------------------
// Admission

TEST(Admission, DeniedWithoutGrant) {
  Gateway gw("");
  const fs::path marker = gw.target.writable_dir() / "ran";
  const RunResult r = ssh(gw, {"touch " + marker.string()});
  expect_denied(r, gw.bastion.log());
  EXPECT_FALSE(fs::exists(marker)) << "the command ran on the target without a grant";
}

TEST(Admission, WrongClientKeyRefused) {
  Gateway gw;
  const TempDir keys;
  const KeyPair stranger = generate_key(keys / "stranger");
  const fs::path marker = gw.target.writable_dir() / "ran";
  const RunResult r =
      run_ssh(stranger.private_key, gw.bastion.port(), gw.login(), {"touch " + marker.string()});
  EXPECT_EQ(r.exit_status, 255) << describe(r);
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << describe(r);
  EXPECT_FALSE(fs::exists(marker));
}

TEST(Admission, TargetHostKeyMismatchRefused) {
  TargetSshd target;
  Bastion bastion;
  const KeyPair user_key = bastion.add_user("alice");
  const KeyPair impostor = generate_key(bastion.dir() / "impostor_host_key");
  bastion.add_target("db01", target, impostor.public_key());
  bastion.add_key_account("db01", target);
  bastion.add_grant("alice", "db01", target.account());
  bastion.start();

  const auto host_key_events = [&] {
    return PostgresCluster::shared().query(
        bastion.database(), "SELECT count(*) FROM audit_events WHERE action ILIKE '%host%key%'");
  };
  ASSERT_EQ(host_key_events(), "0");

  const fs::path marker = target.writable_dir() / "ran";
  const RunResult r =
      run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"touch " + marker.string()});
  EXPECT_NE(r.exit_status, 0) << describe(r);
  EXPECT_NE(r.err.find("host key"), std::string::npos) << describe(r);
  EXPECT_FALSE(fs::exists(marker)) << "the bastion logged in to a target with the wrong host key";
  EXPECT_NE(host_key_events(), "0") << "the mismatch was not audited";
}

TEST(Admission, DatabaseDownRefusesThenRecovers) {
  Gateway gw;
  ASSERT_EQ(ssh(gw, {"echo before"}).out, "before\n");

  PostgresCluster& cluster = PostgresCluster::shared();
  cluster.stop();
  struct Restart {
    PostgresCluster& cluster;
    bool done = false;
    ~Restart() {
      if (!done) cluster.start();
    }
  } restart{cluster};

  const RunResult down = ssh(gw, {"echo during"}, RunOptions().with_timeout(30s));
  expect_denied(down, gw.bastion.log());
  EXPECT_NE(down.err.find("database"), std::string::npos) << describe(down);
  EXPECT_TRUE(gw.bastion.running()) << gw.bastion.log();

  cluster.start();
  restart.done = true;
  RunResult after;
  const bool admitted = wait_until(
      [&] {
        after = ssh(gw, {"echo after"});
        return after.exit_status == 0;
      },
      20s);
  EXPECT_TRUE(admitted) << describe(after) << "\n--- daemon log:\n" << gw.bastion.log();
  EXPECT_EQ(after.out, "after\n");
}

TEST(Admission, VaultKeyMissingIsAClearError) {
  Gateway gw;
  ASSERT_EQ(gw.bastion.stop(), 0) << gw.bastion.log();
  fs::remove(gw.bastion.vault_key_file());
  const std::string key_name = gw.bastion.vault_key_file().string();

  const RunResult daemon =
      run({(bin_dir() / "portcullisd").string(), "-c", gw.bastion.config_file().string()},
          RunOptions().with_timeout(15s));
  EXPECT_FALSE(daemon.timed_out) << "portcullisd kept running without its vault key";
  EXPECT_NE(daemon.exit_status, 0) << describe(daemon);
  EXPECT_NE(daemon.err.find(key_name), std::string::npos) << describe(daemon);

  const RunResult cli = gw.bastion.cli({"account", "add", "db01", "other", "--key-file",
                                        gw.target.account_key().private_key.string()});
  EXPECT_NE(cli.exit_status, 0) << describe(cli);
  EXPECT_EQ(lines_starting_with(cli.err, "portcullis: error:").size(), 1u) << describe(cli);
  EXPECT_NE(cli.err.find(key_name), std::string::npos) << describe(cli);
}

// ---------------------------------------------------------------------------------------------
// Bridging

TEST(Bridge, ExecOutputAndExitStatus) {
  Gateway gw;
  const RunResult r = ssh(gw, {"echo hello; exit 3"});
  EXPECT_EQ(r.exit_status, 3) << describe(r);
  EXPECT_EQ(r.out, "hello\n") << describe(r);

  const RunResult explicit_login = run_ssh(gw.user_key.private_key, gw.bastion.port(),
                                           gw.login() + ":" + gw.target.account(), {"id -un"});
  EXPECT_EQ(explicit_login.exit_status, 0) << describe(explicit_login);
  EXPECT_EQ(explicit_login.out, gw.target.account() + "\n");
}

TEST(Bridge, StderrSeparateFromStdout) {
  Gateway gw;
  const RunResult r = ssh(gw, {"echo to-out; echo to-err >&2; echo more-out"});
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_EQ(r.out, "to-out\nmore-out\n") << describe(r);
  EXPECT_NE(r.err.find("to-err\n"), std::string::npos) << describe(r);
}

TEST(Bridge, StdinEofReachesTarget) {
  Gateway gw;
  const TempDir local;
  make_random_file(local / "input", 123457);
  const RunResult r =
      ssh(gw, {"wc -c"}, RunOptions().with_stdin_file(local / "input").with_timeout(20s));
  EXPECT_FALSE(r.timed_out) << "the target never saw EOF on stdin";
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_EQ(r.out, "123457\n") << describe(r);
}

TEST(Bridge, EnvAllowListPassesLangOnly) {
  Gateway gw;
  const std::vector<std::string> command{
      R"(printf '%s|%s|%s' "$LANG" "$LC_PAPER" "$PCL_E2E_SECRET")"};
  const RunOptions options = RunOptions().with_env(
      {"LANG=pcl_TEST.UTF-8", "LC_PAPER=pcl-paper", "PCL_E2E_SECRET=must-not-pass"});
  const std::vector<std::string> send_env{"-o", "SendEnv=LANG LC_* PCL_E2E_SECRET"};

  // Control: the target itself accepts PCL_E2E_*, so only the bastion can filter it out.
  const RunResult direct = run_ssh(gw.target.account_key().private_key, gw.target.port(),
                                   gw.target.account(), command, options, send_env);
  ASSERT_EQ(direct.out, "pcl_TEST.UTF-8|pcl-paper|must-not-pass") << describe(direct);

  const RunResult r = ssh(gw, command, options, send_env);
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_EQ(r.out, "pcl_TEST.UTF-8|pcl-paper|") << describe(r);
}

TEST(Bridge, InteractiveTtyFollowsResize) {
  Gateway gw;
  PtySession pty(ssh_tty_command(gw.user_key.private_key, gw.bastion.port(), gw.login()), 24, 80);
  // The login banner names the grant and its reason.
  ASSERT_TRUE(pty.expect("grant " + gw.grant_id + "\\b", 15s)) << pty.transcript();
  EXPECT_NE(pty.transcript().find("e2e test"), std::string::npos) << pty.transcript();

  // printf formats keep the echoed command line from matching the expected output.
  pty.write("printf 'T%sY\\n' \"$(tty)\"\n");
  EXPECT_TRUE(pty.expect("T/dev/pts/[0-9]+Y")) << pty.transcript();
  pty.write("printf 'E%sE\\n' \"$TERM\"\n");
  EXPECT_TRUE(pty.expect("ExtermE")) << pty.transcript();
  pty.write("printf 'S%sZ\\n' \"$(stty size)\"\n");
  EXPECT_TRUE(pty.expect("S24 80Z")) << pty.transcript();

  pty.resize(40, 132);
  const bool resized = wait_until(
      [&] {
        pty.write("printf 'S%sZ\\n' \"$(stty size)\"\n");
        return pty.expect("S40 132Z", 500ms).has_value();
      },
      10s);
  EXPECT_TRUE(resized) << pty.transcript();

  pty.write("exit 7\n");
  EXPECT_EQ(pty.wait_exit(10s), 7) << pty.transcript();
}

TEST(Bridge, LargeDownloadByteIdentical) {
  Gateway gw;
  const fs::path source = gw.target.writable_dir() / "download.bin";
  make_random_file(source, 100u << 20);
  const TempDir local;
  const RunResult r = ssh(gw, {"cat " + source.string()},
                          RunOptions().with_stdout_file(local / "download.bin").with_timeout(180s));
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  EXPECT_EQ(fs::file_size(local / "download.bin"), 100u << 20);
  EXPECT_EQ(sha256_file(local / "download.bin"), sha256_file(source));
}

TEST(Bridge, LargeUploadByteIdentical) {
  Gateway gw;
  const TempDir local;
  make_random_file(local / "upload.bin", 100u << 20);
  const fs::path destination = gw.target.writable_dir() / "upload.bin";
  const RunResult r = ssh(gw, {"cat > " + destination.string()},
                          RunOptions().with_stdin_file(local / "upload.bin").with_timeout(180s));
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  ASSERT_TRUE(fs::exists(destination)) << describe(r);
  EXPECT_EQ(fs::file_size(destination), 100u << 20);
  EXPECT_EQ(sha256_file(destination), sha256_file(local / "upload.bin"));
}

// scp and sftp cannot take "alice:db01@host:path" (the first colon ends the host part), so
// the login name goes in -o User=.
std::vector<std::string> transfer_command(const Gateway& gw, const std::string& program) {
  std::vector<std::string> argv{program};
  const auto options = ssh_client_options(gw.user_key.private_key, gw.bastion.port(), "-P");
  argv.insert(argv.end(), options.begin(), options.end());
  argv.insert(argv.end(), {"-o", "User=" + gw.login()});
  return argv;
}

TEST(Bridge, ScpBothWaysByteIdentical) {
  Gateway gw;
  const TempDir local;
  make_random_file(local / "up.bin", 5u << 20);
  const fs::path remote = gw.target.writable_dir() / "scp.bin";

  for (const std::string mode : {"-s", "-O"}) {  // sftp protocol (default) and legacy scp
    SCOPED_TRACE("scp " + mode);
    fs::remove(remote);
    fs::remove(local / "down.bin");
    auto upload = transfer_command(gw, "scp");
    upload.insert(upload.end(),
                  {mode, (local / "up.bin").string(), "127.0.0.1:" + remote.string()});
    const RunResult up = run(upload, RunOptions().with_timeout(60s));
    EXPECT_EQ(up.exit_status, 0) << describe(up);
    ASSERT_TRUE(fs::exists(remote));
    EXPECT_EQ(sha256_file(remote), sha256_file(local / "up.bin"));

    auto download = transfer_command(gw, "scp");
    download.insert(download.end(),
                    {mode, "127.0.0.1:" + remote.string(), (local / "down.bin").string()});
    const RunResult down = run(download, RunOptions().with_timeout(60s));
    EXPECT_EQ(down.exit_status, 0) << describe(down);
    ASSERT_TRUE(fs::exists(local / "down.bin"));
    EXPECT_EQ(sha256_file(local / "down.bin"), sha256_file(local / "up.bin"));
  }
}

TEST(Bridge, SftpBothWaysByteIdentical) {
  Gateway gw;
  const TempDir local;
  make_random_file(local / "up.bin", 5u << 20);
  const fs::path remote = gw.target.writable_dir() / "sftp.bin";

  auto sftp = transfer_command(gw, "sftp");
  sftp.insert(sftp.end(), {"-b", "-", "127.0.0.1"});
  const std::string batch = "put " + (local / "up.bin").string() + " " + remote.string() +
                            "\nget " + remote.string() + " " + (local / "down.bin").string() + "\n";
  const RunResult r = run(sftp, RunOptions().with_stdin(batch).with_timeout(60s));
  EXPECT_EQ(r.exit_status, 0) << describe(r);
  ASSERT_TRUE(fs::exists(remote)) << describe(r);
  ASSERT_TRUE(fs::exists(local / "down.bin")) << describe(r);
  EXPECT_EQ(sha256_file(remote), sha256_file(local / "up.bin"));
  EXPECT_EQ(sha256_file(local / "down.bin"), sha256_file(local / "up.bin"));
}

// ---------------------------------------------------------------------------------------------
// Forwarding is refused, visibly

// The client's options with log level INFO, where OpenSSH reports refused channels.
std::vector<std::string> verbose_ssh(const Gateway& gw) {
  std::vector<std::string> argv{"ssh"};
  auto options = ssh_client_options(gw.user_key.private_key, gw.bastion.port());
  std::replace(options.begin(), options.end(), std::string("LogLevel=ERROR"),
               std::string("LogLevel=INFO"));
  argv.insert(argv.end(), options.begin(), options.end());
  return argv;
}

// Connects to 127.0.0.1:port and returns whatever arrives before EOF or `timeout`.
std::string read_from_port(std::uint16_t port, std::chrono::milliseconds timeout) {
  const int sock = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  std::string received;
  if (::connect(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buffer[256];
    for (ssize_t n; (n = ::recv(sock, buffer, sizeof buffer, 0)) > 0;) {
      received.append(buffer, static_cast<std::size_t>(n));
    }
  }
  ::close(sock);
  return received;
}

// OpenSSH prints "channel N: open failed: administratively prohibited: REASON". libssh 0.10
// has no public call to fill in REASON, so the code itself is the message the client gets.
bool refused_visibly(const std::string& client_stderr) {
  return client_stderr.find("open failed: administratively prohibited") != std::string::npos;
}

// The bastion's own record of refusals: the audit log (written off the event loop, so poll).
std::string forwarding_refusals(const Bastion& bastion) {
  return PostgresCluster::shared().query(
      bastion.database(), "SELECT count(*) FROM audit_events WHERE action ILIKE '%forward%'");
}

TEST(Forwarding, LocalForwardRefused) {
  Gateway gw;
  const std::uint16_t local_port = free_port();
  auto argv = verbose_ssh(gw);
  argv.insert(
      argv.end(),
      {"-N", "-L", std::to_string(local_port) + ":127.0.0.1:" + std::to_string(gw.target.port()),
       gw.login() + "@127.0.0.1"});
  const TempDir dir;
  BackgroundProcess client(argv, dir / "ssh.log");
  ASSERT_TRUE(wait_for_port(local_port, 15s)) << read_file(dir / "ssh.log");

  // Through a working tunnel the target's sshd would greet us with "SSH-2.0-OpenSSH".
  const std::string received = read_from_port(local_port, 5s);
  EXPECT_EQ(received.find("SSH-2.0"), std::string::npos) << "the tunnel reached the target";
  EXPECT_TRUE(wait_until([&] { return refused_visibly(read_file(dir / "ssh.log")); }, 5s))
      << read_file(dir / "ssh.log");
  EXPECT_TRUE(wait_until([&] { return forwarding_refusals(gw.bastion) != "0"; }, 5s))
      << "the refusal was not audited";
}

TEST(Forwarding, StdioForwardAndRemoteForwardRefused) {
  Gateway gw;
  auto jump = verbose_ssh(gw);
  jump.insert(jump.end(),
              {"-W", "127.0.0.1:" + std::to_string(gw.target.port()), gw.login() + "@127.0.0.1"});
  const RunResult w = run(jump, RunOptions().with_timeout(20s));
  EXPECT_EQ(w.exit_status, 255) << describe(w);
  EXPECT_EQ(w.out.find("SSH-2.0"), std::string::npos) << describe(w);
  EXPECT_TRUE(refused_visibly(w.err)) << describe(w);
  EXPECT_TRUE(wait_until([&] { return forwarding_refusals(gw.bastion) != "0"; }, 5s))
      << "the refusal was not audited";

  auto remote = verbose_ssh(gw);
  remote.insert(remote.end(),
                {"-o", "ExitOnForwardFailure=yes", "-N", "-R",
                 std::to_string(free_port()) + ":127.0.0.1:22", gw.login() + "@127.0.0.1"});
  const RunResult r = run(remote, RunOptions().with_timeout(20s));
  EXPECT_FALSE(r.timed_out) << "the remote forward was accepted: " << describe(r);
  EXPECT_EQ(r.exit_status, 255) << describe(r);
  EXPECT_NE(r.err.find("forwarding failed"), std::string::npos) << describe(r);
}

// ---------------------------------------------------------------------------------------------
// The grant ends the session

TEST(Lifetime, ExpiryKillsSessionWithinOneSecond) {
  Gateway gw("8s");
  const Clock::time_point expires_at = grant_expiry(gw.bastion, gw.grant_id);
  const RunResult r = ssh(gw, {"echo started; sleep 60"}, RunOptions().with_timeout(40s));
  const Clock::time_point ended = Clock::now();

  EXPECT_FALSE(r.timed_out) << "the session outlived its grant";
  EXPECT_EQ(r.out, "started\n") << describe(r);
  EXPECT_GE(seconds_between(expires_at, ended), -0.5) << "closed before the grant expired";
  EXPECT_LE(seconds_between(expires_at, ended), 1.0) << "closed too long after expiry";
  const std::regex message("portcullis: grant " + gw.grant_id +
                           " expired at [^;]+; session closed");
  EXPECT_TRUE(std::regex_search(r.err, message)) << describe(r);
  EXPECT_EQ(only_session(gw.bastion).at("end_reason"), "grant_expired");

  const RunResult again = ssh(gw, {"echo again"});
  expect_denied(again, gw.bastion.log());
}

TEST(Lifetime, RevokeKillsRunningSession) {
  Gateway gw;
  auto running = std::async(std::launch::async, [&] {
    return ssh(gw, {"echo started; sleep 60"}, RunOptions().with_timeout(40s));
  });
  ASSERT_TRUE(wait_for_active_session(gw.bastion, 15s)) << gw.bastion.log();

  const auto revoked_at = Clock::now();
  gw.bastion.cli_checked({"grant", "revoke", gw.grant_id, "--reason", "e2e revoke"});
  const RunResult r = running.get();
  const double took = seconds_between(revoked_at, Clock::now());

  EXPECT_FALSE(r.timed_out) << "the session survived revocation";
  EXPECT_LE(took, 2.0);
  EXPECT_EQ(r.out, "started\n") << describe(r);
  const std::regex message("portcullis: grant " + gw.grant_id +
                           " revoked at [^;]+; session closed");
  EXPECT_TRUE(std::regex_search(r.err, message)) << describe(r);
  EXPECT_EQ(only_session(gw.bastion).at("end_reason"), "revoked");
  expect_denied(ssh(gw, {"echo again"}), gw.bastion.log());
}

TEST(Lifetime, SessionKillEndsSession) {
  Gateway gw;
  auto running = std::async(std::launch::async, [&] {
    return ssh(gw, {"echo started; sleep 60"}, RunOptions().with_timeout(40s));
  });
  ASSERT_TRUE(wait_for_active_session(gw.bastion, 15s)) << gw.bastion.log();
  const auto sessions = cli_json(gw.bastion, {"session", "list", "--active", "--json"});
  gw.bastion.cli_checked({"session", "kill", std::to_string(sessions.at(0).at("id").get<long>())});
  const RunResult r = running.get();
  EXPECT_FALSE(r.timed_out) << "the session survived `session kill`";
  EXPECT_EQ(only_session(gw.bastion).at("end_reason"), "killed");
}

// ---------------------------------------------------------------------------------------------
// Vaulted credentials

TEST(Vault, PasswordAccountWorks) {
  if (!can_use_password_account())
    GTEST_SKIP() << "needs root to give the target account a password";
  TargetSshd target;
  Bastion bastion;
  const KeyPair user_key = bastion.add_user("alice");
  bastion.add_target("db01", target);
  bastion.add_password_account("db01", target);
  bastion.add_grant("alice", "db01", target.account());
  bastion.start();

  const RunResult r = run_ssh(user_key.private_key, bastion.port(), "alice:db01", {"id -un"});
  EXPECT_EQ(r.exit_status, 0) << describe(r) << "\n--- daemon log:\n" << bastion.log();
  EXPECT_EQ(r.out, target.account() + "\n");
  EXPECT_NE(target.log().find("Accepted password for " + target.account()), std::string::npos)
      << target.log();
}

// The base64 lines of an OpenSSH private key file.
std::vector<std::string> private_key_lines(const fs::path& key_file) {
  std::vector<std::string> lines;
  std::istringstream in(read_file(key_file));
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with("-----") && line.size() >= 16) lines.push_back(line);
  }
  return lines;
}

TEST(Vault, NoVaultedSecretInDaemonLog) {
  TargetSshd target;
  Bastion bastion;
  const KeyPair user_key = bastion.add_user("alice");
  bastion.add_target("db01", target);
  bastion.add_key_account("db01", target);
  bastion.add_grant("alice", "db01", target.account());
  const bool with_password = can_use_password_account();
  if (with_password) {
    bastion.add_target("db02", target);
    bastion.add_password_account("db02", target);
    bastion.add_grant("alice", "db02", target.account());
  }
  bastion.start();

  for (const std::string name : {"db01", "db02"}) {
    if (name == "db02" && !with_password) continue;
    const RunResult r = run_ssh(user_key.private_key, bastion.port(), "alice:" + name, {"true"});
    EXPECT_EQ(r.exit_status, 0) << name << ": " << describe(r);
  }
  EXPECT_EQ(bastion.stop(), 0) << "portcullisd did not stop cleanly on SIGTERM";

  const std::string log = bastion.log();
  ASSERT_NE(log.find("alice"), std::string::npos) << "the daemon logged nothing useful:\n" << log;
  for (const auto& line : private_key_lines(target.account_key().private_key)) {
    EXPECT_EQ(log.find(line), std::string::npos) << "private key material in the log: " << line;
  }
  if (with_password) {
    EXPECT_EQ(log.find(kTargetPassword), std::string::npos) << "the vaulted password is in the log";
  }
  const std::string accounts = bastion.cli_checked({"account", "list", "--json"});
  EXPECT_EQ(accounts.find(kTargetPassword), std::string::npos);
  for (const auto& line : private_key_lines(target.account_key().private_key)) {
    EXPECT_EQ(accounts.find(line), std::string::npos);
  }
}

}  // namespace
}  // namespace portcullis::e2e
