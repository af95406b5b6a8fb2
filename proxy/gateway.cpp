#include "proxy/gateway.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <systemd/sd-daemon.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "access/access.h"
#include "access/oversight.h"
#include "access/policy.h"
#include "access/workflow.h"
#include "alerts/alerts.h"
#include "metrics/metrics.h"
#include "proxy/audit_tail.h"
#include "proxy/credential_rotation.h"
#include "proxy/database_clock.h"
#include "proxy/event_loops.h"
#include "proxy/gateway_metrics.h"
#include "proxy/session.h"
#include "proxy/web_backend.h"
#include "proxy/worker_pool.h"
#include "recorder/postgres_store.h"
#include "recorder/service.h"
#include "sshkey/sshkey.h"
#include "vault/vault.h"

namespace portcullis::proxy {
namespace {

// Revocations, kills and extensions arrive by NOTIFY at once; this re-check is the safety net
// for a notification lost with a connection.
constexpr std::chrono::milliseconds kStatusPollInterval{2000};
// After a failed accept (typically: out of file descriptors), before the next attempt.
constexpr std::chrono::milliseconds kAcceptRetryDelay{100};
// How often expired grants and lapsed requests are written to the audit log.
constexpr std::chrono::seconds kSweepInterval{5};
const std::vector<std::string> kNotifyChannels{"portcullis_revocations",  "portcullis_kills",
                                               "portcullis_extensions",   "portcullis_decisions",
                                               "portcullis_participants", "portcullis_input"};

// A look at the database that notifications ask for, many at once in a burst: while one runs,
// the requests that arrive are folded into a single follow-up, so a burst costs two queries.
class FoldedLook {
 public:
  // True: start the look now. False: one is running, and another will follow it.
  bool begin() {
    if (running_) {
      again_ = true;
      return false;
    }
    running_ = true;
    return true;
  }
  // The look came back; true when another was asked for meanwhile.
  bool end() {
    running_ = false;
    return std::exchange(again_, false);
  }

 private:
  bool running_ = false;
  bool again_ = false;
};

// What one look at the database says about this node's live sessions.
struct StatusCheck {
  std::vector<access::SessionStatus> statuses;
  std::vector<access::Participant> participants;  // watching or joined, by session
};

// "session 42 ended by bob: REASON; session closed" (the reason inert: another person wrote it).
std::string kill_notice(const access::SessionStatus& status) {
  const std::string by = access::actor_name(status.kill_requested_by);
  return "session " + std::to_string(status.session_id) + " ended by " +
         (by.empty() ? std::string("an administrator") : inert_line(by)) +
         (status.kill_reason.empty() ? "" : ": " + inert_line(status.kill_reason)) +
         "; session closed";
}

// Only what [server] lists is offered: by default curve25519/ECDH key exchange (no DH groups
// costing milliseconds of CPU each on the loop), AEAD ciphers and Ed25519/ECDSA host keys.
void restrict_algorithms(ssh_bind bind, const ServerConfig& server) {
  const struct {
    ssh_bind_options_e option;
    const std::string& value;
    const char* key;
  } lists[] = {
      {SSH_BIND_OPTIONS_KEY_EXCHANGE, server.kex_algorithms, "kex_algorithms"},
      {SSH_BIND_OPTIONS_CIPHERS_C_S, server.ciphers, "ciphers"},
      {SSH_BIND_OPTIONS_CIPHERS_S_C, server.ciphers, "ciphers"},
      {SSH_BIND_OPTIONS_HMAC_C_S, server.macs, "macs"},
      {SSH_BIND_OPTIONS_HMAC_S_C, server.macs, "macs"},
      {SSH_BIND_OPTIONS_HOSTKEY_ALGORITHMS, server.host_key_algorithms, "host_key_algorithms"},
  };
  for (const auto& list : lists) {
    if (ssh_bind_options_set(bind, list.option, list.value.c_str()) != SSH_OK) {
      throw std::runtime_error(std::string("[server] ") + list.key + " = \"" + list.value +
                               "\" names no algorithm libssh supports: " + ssh_get_error(bind));
    }
  }
}

SshBind make_bind(const Config& config) {
  const std::string path = config.server.host_key.string();
  sshkey::Key key = sshkey::load_private_key_file(path);
  if (!key) {
    throw std::runtime_error("cannot load the host key " + path +
                             ": missing or not an OpenSSH private key; run `portcullis init`");
  }
  SshBind bind(ssh_bind_new());
  const int no = 0;
  ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_PROCESS_CONFIG, &no);
  restrict_algorithms(bind.get(), config.server);
  if (ssh_bind_options_set(bind.get(), SSH_BIND_OPTIONS_IMPORT_KEY, key.get()) != SSH_OK) {
    throw std::runtime_error("cannot use the host key " + path + ": " + ssh_get_error(bind.get()));
  }
  key.release();  // the bind owns the key now
  return bind;
}

// A session holds about five descriptors (the client's and the target's sockets, a duplicate
// of each for the loop to watch, the recording's spool file). The usual soft limit of 1024
// runs out near 200 sessions while the hard limit allows many more: take all of it.
void raise_open_files_limit() {
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) != 0) return;
  if (files.rlim_cur < files.rlim_max) {
    const rlimit raised{files.rlim_max, files.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) files = raised;
  }
  spdlog::info("open files limit {}: room for about {} sessions", files.rlim_cur,
               files.rlim_cur / 5);
}

std::string describe(const boost::asio::ip::tcp::endpoint& endpoint) {
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

}  // namespace

struct Gateway::Impl {
  explicit Impl(std::shared_ptr<const RunningConfig> running)
      : loops(loop_count(running->config.server.threads)),
        loop(loops.main()),
        config(running->config),
        live(std::move(running)),
        vault(vault::Vault::open(config.vault.key_file)),
        bind(make_bind(config)),
        oidc(config.oidc.enabled() ? identity::OidcClient::from_config(config.oidc) : nullptr),
        journal(config),
        limits(config.server, [this](const LimitHit& hit) { report_limit(hit); }),
        recordings(config.recording,
                   std::make_unique<recorder::PostgresRecordingStore>(config.database.url)),
        alerts(config.alerts, config.server.node_name),
        workers(loop, config.database.url, config.server.worker_threads),
        upstreams(loop, config.database.url, config.server.upstream_threads),
        oversight(loop, config.database.url, 1),
        audit_tail(loop, config, recordings.signing_key(), alerts),
        rotation(loop, config, vault,
                 [this](const access::AlertEvent& alert) { raise_alert(alert); }),
        acceptor(loop),
        accept_timer(loop),
        signals(loop, SIGINT, SIGTERM),
        reload_signals(loop, SIGHUP),
        status_timer(loop),
        sweep_timer(loop),
        gateway_metrics(
            loops, config, metrics,
            {workers, upstreams, oversight, journal, listener, alerts, recordings, limits}) {
    for (std::size_t i = 0; i < loops.size(); ++i) {
      boost::asio::io_context& own = loops.at(i);
      contexts.push_back(std::make_unique<GatewayContext>(GatewayContext{
          own, config, live, bind.get(), LoopWorkers(workers, own), LoopWorkers(upstreams, own),
          clock, journal, limits, vault, registry, recordings,
          [this](const access::AlertEvent& alert) { raise_alert(alert); }, metrics, oidc}));
    }
    spdlog::info("{} event loop(s) carry the connections", loops.size());
  }

  void start_console() {
    if (config.web.listen.empty()) return;
    web_backend.emplace(workers, clock, live, vault,
                        [this](const access::AlertEvent& alert) { raise_alert(alert); });
    console.emplace(config, *web_backend, oidc);
    console->start();
  }

  void raise_alert(const access::AlertEvent& alert) {
    try {
      alerts.send(alert.kind, nlohmann::json::parse(alert.fields_json));
    } catch (const std::exception& e) {
      spdlog::error("cannot send the {} alert: {}", alert.kind, e.what());
    }
  }

  // Notifications arrive on the listener's thread; the check itself runs on the loop.
  void listen_for_changes() {
    auto check = [this] {
      boost::asio::post(loop, [this] {
        check_statuses();
        // Requesters waiting in `connect` or `wait` learn of approvals and denials at once.
        registry.post_to_all([](Session& session) { session.decision_may_have_changed(); });
      });
    };
    auto take_input = [this] { boost::asio::post(loop, [this] { take_joined_input(); }); };
    listener.emplace(
        config.database.url, kNotifyChannels,
        [check, take_input](const std::string& channel, const std::string&) {
          if (channel == "portcullis_input") return take_input();
          check();
        },
        check);
  }

  // Keys typed by people who joined sessions (on any node) go to this node's sessions.
  void take_joined_input() {
    if (stopping || !input_look.begin()) return;
    oversight.transact([ids = registry.record_ids()](
                           pqxx::work& tx) { return access::take_joined_input(tx, ids); },
                       [this](Outcome<std::vector<access::JoinedInput>> outcome) {
                         if (outcome.ok()) {
                           for (access::JoinedInput& input : *outcome.value) {
                             registry.post_to_record(
                                 input.session_id,
                                 [author = std::move(input.author), keys = std::move(input.keys)](
                                     Session& session) { session.type_joined(author, keys); });
                           }
                         }
                         if (input_look.end()) take_joined_input();
                       });
  }

  void sweep() {
    if (stopping) return;
    sweep_timer.expires_after(kSweepInterval);
    sweep_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      oversight.transact([actor = "portcullisd:" + config.server.node_name](
                             pqxx::work& tx) { return access::audit_ended_grants(tx, actor); },
                         [this](Outcome<int> outcome) {
                           if (!outcome.ok() && !outcome.database_unavailable) {
                             spdlog::warn("cannot audit ended grants: {}", outcome.error);
                           }
                           sweep();
                         });
    });
  }

  void listen() {
    using boost::asio::ip::tcp;
    tcp::endpoint endpoint(boost::asio::ip::make_address(config.server.listen_host),
                           config.server.listen_port);
    acceptor.open(endpoint.protocol());
    acceptor.set_option(tcp::acceptor::reuse_address(true));
    acceptor.bind(endpoint);
    acceptor.listen();
    spdlog::info("portcullisd node={} listening on {}", config.server.node_name,
                 describe(endpoint));
  }

  void accept() {
    acceptor.async_accept(
        [this](boost::system::error_code ec, boost::asio::ip::tcp::socket socket) {
          if (ec == boost::asio::error::operation_aborted) return;
          if (!ec) {
            serve(std::move(socket));
            return accept();
          }
          spdlog::warn("accept failed: {}", ec.message());
          // Out of descriptors, the connection stays queued and accepting again at once would
          // fail again at once: a busy loop. Sessions ending free descriptors; wait for that.
          accept_timer.expires_after(kAcceptRetryDelay);
          accept_timer.async_wait([this](boost::system::error_code timer_ec) {
            if (!timer_ec) accept();
          });
        });
  }

  void serve(boost::asio::ip::tcp::socket socket) {
    boost::system::error_code ec;
    socket.set_option(boost::asio::ip::tcp::no_delay(true), ec);
    auto peer = socket.remote_endpoint(ec);
    std::string client = ec ? "unknown" : describe(peer);
    ConnectionLimits::Verdict verdict = limits.admit(ec ? "unknown" : peer.address().to_string());
    // Dropped before a byte is sent, as OpenSSH does: the cheapest answer to a flood.
    if (!verdict.admitted) return;
    // The connection's loop for its whole life: the one carrying the fewest now.
    EventLoops::Placement placement = loops.place();
    GatewayContext& context = *contexts.at(placement.index());
    try {
      auto session = std::make_shared<Session>(context, std::move(placement), socket.release(),
                                               client, std::move(verdict.slot));
      // Moved into the handler: from here on only the session's own loop holds it.
      boost::asio::post(context.loop,
                        [session = std::move(session), client, delay = verdict.delay] {
                          try {
                            session->start(delay);
                          } catch (const std::exception& e) {
                            spdlog::warn("client={} cannot start a session: {}", client, e.what());
                          }
                        });
    } catch (const std::exception& e) {
      spdlog::warn("client={} cannot start a session: {}", client, e.what());
    }
  }

  // A limit hit, at most once a minute per source and limit: logged, audited, alerted.
  void report_limit(const LimitHit& hit) {
    spdlog::warn("limit {} hit by {} ({} time(s) since the last report)", hit.limit, hit.source,
                 hit.count);
    const nlohmann::json details{
        {"limit", hit.limit}, {"source", hit.source}, {"count", hit.count}};
    journal.submit(access::journal_audit("portcullisd:" + config.server.node_name,
                                         "connection.limited", "source:" + hit.source,
                                         details.dump()));
    raise_alert(access::AlertEvent{"connection_limit", details.dump()});
  }

  void poll_statuses() {
    if (stopping) return;
    status_timer.expires_after(kStatusPollInterval);
    status_timer.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      check_statuses();
      take_joined_input();  // keys whose notification was lost with a connection
      poll_statuses();
    });
  }

  // One query for every live session of this node.
  void check_statuses() {
    if (stopping || !status_look.begin()) return;
    std::vector<std::int64_t> ids = registry.record_ids();
    // Also reads the database's clock (even with no session: the next one needs it).
    oversight.transact(
        [ids, &clock = clock](pqxx::work& tx) {
          const access::TimePoint sent = access::Clock::now();
          const access::TimePoint database_now = access::database_now(tx);
          clock.observe(database_now, sent, access::Clock::now());
          return StatusCheck{access::session_statuses(tx, ids),
                             access::present_participants(tx, ids)};
        },
        [this](Outcome<StatusCheck> outcome) {
          // The database being unreachable leaves admitted sessions running until their
          // grant's end, which each session enforces with its own timer.
          if (outcome.ok()) apply(*outcome.value);
          if (status_look.end()) check_statuses();
        });
  }

  // Each session hears of its own status on its own loop: O(1) work here per session.
  void apply(const StatusCheck& check) {
    std::map<std::int64_t, std::vector<access::Participant>> participants;
    for (const access::Participant& p : check.participants) participants[p.session_id].push_back(p);
    for (const access::SessionStatus& status : check.statuses) {
      registry.post_to_record(
          status.session_id,
          [status, now = clock.now(),
           present = std::move(participants[status.session_id])](Session& session) mutable {
            apply_status(session, status, now, std::move(present));
          });
    }
  }

  static void apply_status(Session& session, const access::SessionStatus& status,
                           access::TimePoint now, std::vector<access::Participant> present) {
    if (status.revoked) {
      std::string why = status.revoke_reason.empty() ? "" : " (" + status.revoke_reason + ")";
      session.terminate(access::EndReason::revoked,
                        "grant " + std::to_string(status.grant_id) + " revoked at " +
                            format_rfc3339(status.revoked_at.value_or(now)) + why +
                            "; session closed",
                        status.revoked_at);
    } else if (status.kill_requested) {
      session.terminate(access::EndReason::killed, kill_notice(status), status.kill_requested_at);
    } else {
      session.set_expiry(status.expires_at);
      session.set_participants(std::move(present));
    }
  }

  void await_reload() {
    reload_signals.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      reload();
      await_reload();
    });
  }

  // SIGHUP: the file is read and checked whole; only then does anything change, at once for
  // every new decision, while live sessions carry on. A file that does not load changes
  // nothing. Either way the attempt is logged and audited.
  void reload() {
    sd_notify(0, "RELOADING=1\nSTATUS=reloading the config");
    const std::shared_ptr<const RunningConfig> running = live.current();
    nlohmann::json details{{"file", config.file.string()}, {"old_sha256", running->config.sha256}};
    try {
      ReloadPlan plan = plan_reload(*running, load_config(config.file));
      // First what can still fail (the new address may be taken): then nothing has changed.
      metrics.serve(plan.next->config.metrics);
      alerts.reconfigure(plan.next->config.alerts);
      limits.reconfigure(plan.next->config.server);
      if (!(plan.next->config.log == running->config.log)) init_logging(plan.next->config.log);
      live.replace(plan.next);
      details["new_sha256"] = plan.next->config.sha256;
      details["needs_restart"] = plan.needs_restart;
      spdlog::info("config reloaded from {}: sha256 {} -> {}; {} policy rule(s), {} alert rule(s)",
                   config.file.string(), running->config.sha256, plan.next->config.sha256,
                   plan.next->policy.rules().size(), plan.next->config.alert_rules.size());
      for (const std::string& section : plan.needs_restart) {
        spdlog::warn(
            "config reload: {} changed in {}; it keeps its running value until portcullisd "
            "restarts",
            section, config.file.string());
      }
      audit_reload("config.reloaded", details);
    } catch (const std::exception& e) {
      spdlog::error("config reload failed, the running config stays in force: {}",
                    inert_line(one_line(e.what())));
      details["error"] = one_line(e.what());
      audit_reload("config.reload_failed", details);
    }
    sd_notify(0, "READY=1\nSTATUS=serving");
  }

  void audit_reload(const std::string& action, const nlohmann::json& details) {
    journal.submit(access::journal_audit("portcullisd:" + config.server.node_name, action,
                                         "config:" + config.file.string(), details.dump()));
  }

  // Sessions an earlier run left open end as `error`; queued after that run's journal, so the
  // true ends it wrote before a crash are applied first and kept.
  void close_orphans() {
    journal.submit(
        access::journal_orphans(config.server.node_name, journal.boot(), access::Clock::now()));
  }

  void shut_down() {
    if (stopping) return;
    stopping = true;
    spdlog::info("portcullisd shutting down");
    sd_notify(0, "STOPPING=1\nSTATUS=shutting down: ending sessions and shipping recordings");
    boost::system::error_code ignored;
    acceptor.close(ignored);
    accept_timer.cancel();
    signals.cancel(ignored);
    reload_signals.cancel(ignored);
    status_timer.cancel();
    sweep_timer.cancel();
    audit_tail.stop();
    rotation.stop();
    gateway_metrics.stop();
    if (console) console->stop();
    registry.post_to_all([](Session& session) {
      session.terminate(access::EndReason::killed, "the bastion is shutting down");
    });
    // The other loops end once their sessions have.
    loops.release();
  }

  // First: outlives everything that posts to a loop or holds a handler on one.
  EventLoops loops;
  boost::asio::io_context& loop;  // the main loop: accepting, signals, status checks, reload
  const Config config;            // as started; see GatewayContext
  LiveConfig live;
  // Before everything that counts into it: outlives every session and worker.
  metrics::Metrics metrics;
  vault::Vault vault;
  SshBind bind;
  std::shared_ptr<identity::OidcClient> oidc;  // [identity.oidc]; nullptr without
  // Before the registry and the workers: destroyed after every session and job that writes to it.
  Journal journal;
  ConnectionLimits limits;
  SessionRegistry registry;
  recorder::RecordingService recordings;
  alerts::Dispatcher alerts;
  WorkerPool workers;
  WorkerPool upstreams;
  // Revocation, kill, extension and expiry: a thread and a connection of their own, so a
  // flood of logins or targets that never answer cannot make a revocation wait.
  WorkerPool oversight;
  DatabaseClock clock;
  AuditTail audit_tail;
  CredentialRotation rotation;
  std::vector<std::unique_ptr<GatewayContext>> contexts;  // one per loop
  boost::asio::ip::tcp::acceptor acceptor;
  boost::asio::steady_timer accept_timer;
  boost::asio::signal_set signals;
  boost::asio::signal_set reload_signals;
  boost::asio::steady_timer status_timer;
  boost::asio::steady_timer sweep_timer;
  std::optional<store::Listener> listener;
  FoldedLook status_look;  // check_statuses
  FoldedLook input_look;   // take_joined_input
  bool stopping = false;
  // Reads the parts above while the loop runs; stopped by shut_down, destroyed first.
  GatewayMetrics gateway_metrics;
  // [web] listen: the console, on threads of its own; stopped by shut_down.
  std::optional<WebBackend> web_backend;
  std::optional<web::Console> console;
};

Gateway::Gateway(std::shared_ptr<const RunningConfig> running)
    : impl_(std::make_unique<Impl>(std::move(running))) {}

Gateway::~Gateway() = default;

void Gateway::run() {
  Impl& impl = *impl_;
  raise_open_files_limit();
  impl.gateway_metrics.start();  // [metrics] listen: refuses to start when it cannot serve it
  impl.start_console();          // [web] listen: the same
  impl.listen();
  impl.signals.async_wait([&impl](boost::system::error_code ec, int) {
    if (!ec) impl.shut_down();
  });
  impl.await_reload();
  impl.close_orphans();
  impl.recordings.start_shipping();
  impl.accept();
  impl.listen_for_changes();
  impl.check_statuses();  // the database's clock, before the first login needs it
  impl.poll_statuses();
  impl.sweep();
  impl.audit_tail.start();
  impl.rotation.start();
  // Under systemd (Type=notify): the socket is listening and the database was reachable at
  // startup; no-op elsewhere.
  sd_notify(0, "READY=1\nSTATUS=serving");
  impl.loops.run();
  impl.listener.reset();
  impl.workers.stop();
  impl.upstreams.stop();
  impl.oversight.stop();
  impl.audit_tail.join();
  impl.rotation.join();
  impl.loops.run_leftovers();
}

void Gateway::stop() {
  boost::asio::post(impl_->loop, [impl = impl_.get()] { impl->shut_down(); });
}

}  // namespace portcullis::proxy
