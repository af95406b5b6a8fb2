// The gateway's side of the web console: its requests run the same control commands an ssh
// connection runs (so the console may do exactly what `ssh USER@BASTION ...` may, no more), and
// its TOTP codes are checked as an ssh login's are.
#pragma once

#include <functional>

#include "proxy/control.h"
#include "proxy/database_clock.h"
#include "proxy/worker_pool.h"
#include "vault/vault.h"
#include "web/console.h"

namespace portcullis::proxy {

class WebBackend final : public web::Backend {
 public:
  using RaiseAlert = std::function<void(const access::AlertEvent&)>;
  WebBackend(WorkerPool& workers, const DatabaseClock& clock, const LiveConfig& live,
             const vault::Vault& vault, RaiseAlert raise_alert)
      : workers_(workers),
        clock_(clock),
        live_(live),
        vault_(vault),
        raise_alert_(std::move(raise_alert)) {}

  web::CommandReply run_command(const access::Actor& actor, const std::vector<std::string>& args,
                                const std::string& client) override;
  access::MfaVerdict check_totp(const std::string& user, const std::string& code,
                                const std::string& client) override;
  std::shared_ptr<const RunningConfig> running() const override { return live_.current(); }

 private:
  WorkerPool& workers_;
  const DatabaseClock& clock_;
  const LiveConfig& live_;
  const vault::Vault& vault_;
  RaiseAlert raise_alert_;
};

}  // namespace portcullis::proxy
