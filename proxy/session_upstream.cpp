// The start of a target session: the session row (no unrecorded access), the dial and the
// login to the target, and the recording with its header, before bridging begins.
#include <spdlog/spdlog.h>

#include "proxy/recording_observer.h"
#include "proxy/session.h"
#include "proxy/session_internal.h"

namespace portcullis::proxy {
namespace {

// The certificate issued with the session row, or the account's vaulted credential.
UpstreamResult log_in_with_credential(UniqueFd socket, const access::Admission& admission,
                                      const vault::Vault& vault,
                                      const std::optional<IssuedCertificate>& certificate,
                                      const ChannelSetup& setup, std::chrono::seconds timeout) {
  const std::string& login = admission.account.login;
  if (certificate) {
    return login_upstream(std::move(socket), admission.target, login, certificate->credential,
                          setup, timeout);
  }
  try {
    const targetssh::Credential vaulted = targetssh::vaulted_credential(admission.account, vault);
    return login_upstream(std::move(socket), admission.target, login, vaulted, setup, timeout);
  } catch (const vault::VaultError& e) {
    UpstreamResult result;
    result.failure.message = e.what();
    return result;
  }
}

}  // namespace

void Session::start_upstream(const access::Admission& admission) {
  const std::string node = context_.config.server.node_name;
  // The session row exists before the target is reached: no unrecorded access. This write is
  // not journaled: with the database down the session does not start at all.
  CertificateOrder order;
  order.grant_id = admission.grant.id;
  order.user = user_;
  order.login = admission.account.login;
  order.actor = "portcullisd:" + node;
  order.pty = setup_.pty.has_value();
  order.source_addresses = context_.config.upstream.source_addresses;
  context_.workers.transact(
      [admission, node, client = client_address_, boot = context_.journal.boot(), order,
       &vault = context_.vault](pqxx::work& tx) mutable {
        StartResult result;
        result.approvals = access::list_approvals(tx, admission.grant.id);
        result.record_id = access::start_session(tx, admission.grant.id, node, client, boot);
        if (admission.account.kind == access::CredentialKind::certificate) {
          order.session_id = result.record_id;
          result.certificate = issue_session_certificate(tx, vault, order);
        }
        return result;
      },
      [self = shared_from_this(), admission](Outcome<StartResult> recorded) {
        self->guarded("session record", [&] {
          if (!recorded.ok()) {
            StartResult result;
            result.failure = recorded.database_unavailable
                                 ? "the access database is unreachable, so the session cannot "
                                   "be recorded; try again shortly"
                                 : "the session cannot be recorded: " + recorded.error;
            return self->on_upstream(std::move(result));
          }
          self->context_.metrics.session_started();
          if (self->phase_ != Phase::starting) {
            // The client left before the target was reached: the row is closed at once.
            end_row_later(self->context_.journal, self->context_.metrics, recorded.value->record_id,
                          access::EndReason::client_exit, std::nullopt, self->context_.clock.now());
            return;
          }
          if (self->needs_moderator(admission)) {
            return self->wait_for_moderator(admission, std::move(*recorded.value));
          }
          self->reach_target(admission, std::move(*recorded.value));
        });
        self->pump();
      });
}

void Session::reach_target(const access::Admission& admission, StartResult recorded) {
  const auto deadline = std::chrono::steady_clock::now() + context_.config.server.upstream_timeout;
  dial_target(context_.loop, context_.upstreams, admission.target, deadline,
              [self = shared_from_this(), admission, deadline,
               recorded = std::make_shared<StartResult>(std::move(recorded))](Dialled dialled) {
                self->guarded("upstream dial", [&] {
                  self->log_in_upstream(admission, std::move(*recorded), std::move(dialled),
                                        deadline);
                });
                self->pump();
              });
}

void Session::log_in_upstream(const access::Admission& admission, StartResult recorded,
                              Dialled dialled, std::chrono::steady_clock::time_point deadline) {
  Journal& journal = context_.journal;
  metrics::Metrics& metrics = context_.metrics;
  if (!dialled.socket) {
    metrics.upstream_failed(metrics::UpstreamFailure::unreachable);
    end_row_later(journal, metrics, recorded.record_id, access::EndReason::error, std::nullopt,
                  context_.clock.now());
    recorded.upstream.failure.message = dialled.failure;
    return on_upstream(std::move(recorded));
  }
  if (phase_ != Phase::starting) {
    // The client left while the target was being dialled.
    return end_row_later(journal, metrics, recorded.record_id, access::EndReason::client_exit,
                         std::nullopt, context_.clock.now());
  }
  const vault::Vault& vault = context_.vault;
  const DatabaseClock& clock = context_.clock;
  const std::string actor = "portcullisd:" + context_.config.server.node_name;
  // libssh's timeout bounds each wait for the target: what is left of upstream_timeout.
  const auto left =
      std::chrono::ceil<std::chrono::seconds>(deadline - std::chrono::steady_clock::now());
  const std::chrono::seconds timeout = std::max(left, std::chrono::seconds(1));
  context_.upstreams.blocking(
      [&journal, &metrics, &vault, &clock, admission, setup = setup_, actor, timeout,
       socket = std::move(dialled.socket), result = std::move(recorded)]() mutable {
        result.upstream = log_in_with_credential(std::move(socket), admission, vault,
                                                 result.certificate, setup, timeout);
        if (!result.upstream.connection) {
          const UpstreamFailure& failure = result.upstream.failure;
          metrics.upstream_failed(failure.host_key_mismatch
                                      ? metrics::UpstreamFailure::host_key_mismatch
                                      : metrics::UpstreamFailure::login);
          end_row_later(journal, metrics, result.record_id, access::EndReason::error, std::nullopt,
                        clock.now());
          if (failure.host_key_mismatch) {
            audit_later(journal, actor, "target.host_key_mismatch",
                        "target:" + admission.target.name,
                        {{"session", result.record_id}, {"detail", failure.message}});
          }
        }
        return std::move(result);
      },
      [self = shared_from_this()](Outcome<StartResult> result) {
        self->guarded("upstream start", [&] {
          if (!result.ok())
            throw std::runtime_error("starting the upstream failed: " + result.error);
          self->on_upstream(std::move(*result.value));
        });
        self->pump();
      });
}

void Session::on_upstream(StartResult result) {
  record_id_ = result.record_id;
  if (record_id_ != 0) {
    row_ = SessionRow::open;
    context_.registry.set_record(*this, record_id_);
  }
  if (phase_ != Phase::starting) {
    // The client left while the target was being reached (a failed attempt's row was
    // already closed by the worker).
    if (result.upstream.connection) {
      disconnect_upstream(*result.upstream.connection);
      finish(access::EndReason::client_exit, std::nullopt);
    }
    return;
  }
  // A shell opened by `connect` answered its exec request long ago.
  if (start_request_) ssh_message_channel_request_reply_success(start_request_.get());
  start_request_.reset();
  if (!result.failure.empty()) return deny({metrics::Denial::session_unrecorded, result.failure});
  if (!result.upstream.connection) {
    const UpstreamFailure& failure = result.upstream.failure;
    spdlog::warn("conn={} session={} user={} upstream failed: {}", connection_id_, record_id_,
                 user_, failure.message);
    if (failure.host_key_mismatch) {
      const auto& target = std::get<access::Admission>(identity_->admission).target;
      context_.raise_alert(
          access::AlertEvent{"host_key_mismatch", nlohmann::json{{"target", target.name},
                                                                 {"host", target.host},
                                                                 {"port", target.port},
                                                                 {"user", user_},
                                                                 {"session", record_id_},
                                                                 {"detail", failure.message}}
                                                      .dump()});
    }
    write_notice("portcullis: " + failure.message);
    ssh_channel_request_send_exit_status(client_channel_, 255);
    close_client_channel();
    row_ = SessionRow::closed;  // the worker already closed it
    return begin_draining();
  }
  UpstreamConnection connection = std::move(*result.upstream.connection);
  begin_bridging(std::move(connection), std::get<access::Admission>(identity_->admission), result);
}

void Session::begin_bridging(UpstreamConnection connection, const access::Admission& admission,
                             const StartResult& started) {
  upstream_ = std::move(connection);
  ssh_set_counters(upstream_->session.get(), nullptr, &upstream_counter_);
  upstream_watch_.assign(::dup(ssh_get_fd(upstream_->session.get())));
  ssh_event_add_session(event_.get(), upstream_->session.get());
  grant_id_ = admission.grant.id;
  target_ = admission.target.name;
  login_ = admission.account.login;
  start_recording(admission, started);
  bridge_ = std::make_unique<Bridge>(client_channel_, upstream_->channel, observers_);
  phase_ = Phase::bridging;
  login_timer_.cancel();
  expiry_.set_grant({grant_id_, user_, admission.hours_end, admission.hours});
  set_expiry(admission.grant.expires_at);
  spdlog::info("session={} conn={} user={} target={} login={} grant={} client={} started",
               record_id_, connection_id_, user_, target_, login_, grant_id_, client_address_);
  if (setup_.pty) {
    write_notice("portcullis: grant " + std::to_string(grant_id_) + " (" + admission.grant.reason +
                 ") for " + login_ + "@" + target_ + " ends at " +
                 format_rfc3339(admission.grant.expires_at));
  }
}

// Everything the session shows and does goes into its recording, tied to the grant and the
// approvals that let it happen.
void Session::start_recording(const access::Admission& admission, const StartResult& started) {
  recorder::Header header;
  header.session_id = record_id_;
  header.node = context_.config.server.node_name;
  header.grant_id = admission.grant.id;
  header.user = user_;
  header.target = admission.target.name;
  header.login = admission.account.login;
  header.reason = admission.grant.reason;
  header.ticket = admission.grant.ticket;
  for (const access::Approval& approval : started.approvals) {
    header.approvals.push_back(recorder::Approval{approval.approver, approval.at});
  }
  header.break_glass = admission.grant.break_glass;
  header.client = client_address_;
  if (started.certificate) header.certificate = started.certificate->record;
  header.started_at = context_.clock.now();
  if (setup_.pty) {
    header.cols = static_cast<std::uint16_t>(setup_.pty->cols);
    header.rows = static_cast<std::uint16_t>(setup_.pty->rows);
    header.term = setup_.pty->term;
  }
  const std::shared_ptr<const RunningConfig> running = context_.live.current();
  const access::CompiledRule* rule = running->policy.governing(
      identity_->user ? identity_->user->roles : std::vector<std::string>{}, admission.grant);
  const bool record_input = rule != nullptr && rule->config.record_input
                                ? *rule->config.record_input
                                : context_.config.recording.record_input;
  auto recording = context_.recordings.record(
      context_.loop, std::move(header), record_input,
      [weak = weak_from_this()](const std::string& why) {
        if (auto self = weak.lock()) {
          self->guarded("recording", [&] { self->on_recording_failure(why); });
        }
      },
      [weak = weak_from_this()] {
        if (auto self = weak.lock()) self->pump();
      });
  observers_.add(std::make_shared<RecordingObserver>(std::move(recording)));
  // A moderated session's moderator joined before there was a recording.
  for (const access::Participant& p : participants_) {
    observers_.marker(participant_marker(p, true));
  }
  if (!participants_.empty()) observers_.watched(true);
  watch_commands(admission);
  if (!pty_clamped_from_.empty()) observers_.marker("clamped pty-req " + pty_clamped_from_);
  if (setup_.kind == StartKind::exec) observers_.exec(setup_.command);
  if (setup_.kind == StartKind::subsystem) observers_.exec("subsystem " + setup_.command);
}

void Session::on_recording_failure(const std::string& why) {
  audit_later(context_.journal, "portcullisd:" + context_.config.server.node_name,
              "recording.failed", "session:" + std::to_string(record_id_), {{"error", why}});
  if (context_.config.recording.on_record_failure == OnRecordFailure::continue_unrecorded) {
    spdlog::error(
        "session={} continues UNRECORDED ([recording] on_record_failure = "
        "\"continue\"): {}",
        record_id_, why);
    return;
  }
  terminate(access::EndReason::error,
            "the session recording cannot be written (" + why + "); session closed");
}

void Session::record_marker(const std::string& text) { observers_.marker(text); }

}  // namespace portcullis::proxy
