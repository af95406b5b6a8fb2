#include <curl/curl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>

#include "alerts/alerts.h"
#include "alerts/channel.h"

namespace portcullis::alerts {
namespace {

struct CurlEasyDeleter {
  void operator()(CURL* handle) const { curl_easy_cleanup(handle); }
};
using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;

struct CurlMultiDeleter {
  void operator()(CURLM* handle) const { curl_multi_cleanup(handle); }
};
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;

struct CurlSlistDeleter {
  void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;

struct CurlUrlDeleter {
  void operator()(CURLU* url) const { curl_url_cleanup(url); }
};
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;

struct CurlFreeDeleter {
  void operator()(char* text) const { curl_free(text); }
};
using CurlString = std::unique_ptr<char, CurlFreeDeleter>;

// How often a transfer looks at the shutdown deadline while it waits for the network.
constexpr int kPollMilliseconds = 100;

void init_curl_once() {
  // curl_global_init is not thread-safe; a failure leaves the flag unset for the next try.
  static std::once_flag once;
  std::call_once(once, [] {
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
      throw std::runtime_error("cannot initialise libcurl");
    }
  });
}

template <typename T>
void set_option(CURL* easy, CURLoption option, T value) {
  const CURLcode code = curl_easy_setopt(easy, option, value);
  if (code != CURLE_OK) {
    throw std::runtime_error(std::string("cannot set up libcurl: ") + curl_easy_strerror(code));
  }
}

// The receiver's reply is not used; without this libcurl would print it on stdout.
size_t discard_body(char* /*data*/, size_t size, size_t count, void* /*user*/) {
  return size * count;
}

// Keeps the easy handle in the multi handle for the length of one transfer.
class Transfer {
 public:
  Transfer(CURLM* multi, CURL* easy) : multi_(multi), easy_(easy) {
    const CURLMcode code = curl_multi_add_handle(multi_, easy_);
    if (code != CURLM_OK) throw std::runtime_error(curl_multi_strerror(code));
  }
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() { curl_multi_remove_handle(multi_, easy_); }

 private:
  CURLM* multi_;
  CURL* easy_;
};

enum class Outcome { delivered, failed, abandoned };

struct AttemptResult {
  Outcome outcome;
  std::string detail;  // why it failed
};

class WebhookChannel : public Channel {
 public:
  WebhookChannel(const AlertsConfig& config, const DispatcherOptions& options)
      : redacted_url_(redact_url(config.webhook)),
        attempts_(std::max(config.webhook_attempts, 1)),
        retry_base_(options.retry_base),
        retry_cap_(options.retry_cap) {
    init_curl_once();
    easy_.reset(curl_easy_init());
    multi_.reset(curl_multi_init());
    if (!easy_ || !multi_) throw std::runtime_error("cannot set up libcurl");
    // "Expect:" stops libcurl from waiting for a "100 Continue" before sending larger bodies.
    for (const char* header : {"Content-Type: application/json", "Expect:"}) {
      curl_slist* head = curl_slist_append(headers_.get(), header);
      if (head == nullptr) throw std::runtime_error("cannot set up libcurl");
      static_cast<void>(headers_.release());  // `head` is the same list, grown
      headers_.reset(head);
    }
    set_up(config);
  }

  std::string name() const override { return "webhook " + redacted_url_; }

  bool deliver(const Alert& alert, const Deadline& deadline) override;

 private:
  void set_up(const AlertsConfig& config);
  AttemptResult attempt(const Alert& alert, const Deadline& deadline);
  std::optional<CURLcode> finished();
  std::chrono::milliseconds retry_delay(int failed_attempts) const;

  std::string redacted_url_;
  int attempts_;
  std::chrono::milliseconds retry_base_;
  std::chrono::milliseconds retry_cap_;
  // The easy handle points at these two, so they are declared (and outlive it) first.
  CurlSlist headers_;
  std::array<char, CURL_ERROR_SIZE> error_{};
  CurlEasy easy_;
  CurlMulti multi_;  // kept across alerts, so its connection cache keeps connections alive
};

void WebhookChannel::set_up(const AlertsConfig& config) {
  CURL* easy = easy_.get();
  set_option(easy, CURLOPT_URL, config.webhook.c_str());
  set_option(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  set_option(easy, CURLOPT_POST, 1L);
  set_option(easy, CURLOPT_HTTPHEADER, headers_.get());
  set_option(easy, CURLOPT_USERAGENT, "portcullis/1");
  set_option(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(config.webhook_timeout.count() * 1000));
  set_option(easy, CURLOPT_NOSIGNAL, 1L);  // its timeouts must not use signals in a daemon
  set_option(easy, CURLOPT_WRITEFUNCTION, discard_body);
  set_option(easy, CURLOPT_ERRORBUFFER, error_.data());
}

bool WebhookChannel::deliver(const Alert& alert, const Deadline& deadline) {
  for (int attempt_number = 1;; ++attempt_number) {
    const AttemptResult result = attempt(alert, deadline);
    if (result.outcome == Outcome::delivered) {
      spdlog::info("alert id={} kind={} delivered to {} (attempt {})", alert.id, alert.kind, name(),
                   attempt_number);
      return true;
    }
    if (result.outcome == Outcome::abandoned) break;
    const bool last = attempt_number == attempts_;
    const std::chrono::milliseconds delay = retry_delay(attempt_number);
    spdlog::warn("alert id={} kind={} {} attempt {}/{} failed: {}{}", alert.id, alert.kind, name(),
                 attempt_number, attempts_, result.detail,
                 last ? "" : "; next attempt in " + describe(delay));
    if (last) {
      spdlog::error("alert id={} kind={} not delivered to {}: gave up after {} attempts", alert.id,
                    alert.kind, name(), attempts_);
      return false;
    }
    if (!deadline.sleep(delay)) break;
  }
  spdlog::error("alert id={} kind={} not delivered to {}: shutting down", alert.id, alert.kind,
                name());
  return false;
}

AttemptResult WebhookChannel::attempt(const Alert& alert, const Deadline& deadline) {
  CURL* easy = easy_.get();
  set_option(easy, CURLOPT_POSTFIELDS, alert.json.data());
  set_option(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(alert.json.size()));
  error_[0] = '\0';
  const Transfer transfer(multi_.get(), easy);
  std::optional<CURLcode> code;
  for (;;) {
    int running = 0;
    const CURLMcode multi_code = curl_multi_perform(multi_.get(), &running);
    if (multi_code != CURLM_OK) return {Outcome::failed, curl_multi_strerror(multi_code)};
    code = finished();
    if (code) break;
    if (deadline.passed()) return {Outcome::abandoned, {}};
    curl_multi_poll(multi_.get(), nullptr, 0, kPollMilliseconds, nullptr);
  }
  if (*code != CURLE_OK) {
    return {Outcome::failed, error_[0] != '\0' ? error_.data() : curl_easy_strerror(*code)};
  }
  long status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  if (status >= 200 && status < 300) return {Outcome::delivered, {}};
  return {Outcome::failed, fmt::format("HTTP status {}", status)};
}

std::optional<CURLcode> WebhookChannel::finished() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(multi_.get(), &queued)) {
    if (message->msg == CURLMSG_DONE) return message->data.result;
  }
  return std::nullopt;
}

std::chrono::milliseconds WebhookChannel::retry_delay(int failed_attempts) const {
  std::chrono::milliseconds delay = retry_base_;
  for (int i = 1; i < failed_attempts && delay < retry_cap_; ++i) delay *= 2;
  return std::min(delay, retry_cap_);
}

std::string url_part(CURLU* url, CURLUPart part, unsigned flags = 0) {
  char* text = nullptr;
  if (curl_url_get(url, part, &text, flags) != CURLUE_OK) return {};
  return CurlString(text).get();
}

}  // namespace

std::string redact_url(const std::string& url) {
  init_curl_once();
  const CurlUrl parsed(curl_url());
  if (!parsed || curl_url_set(parsed.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) {
    return "(unparsable URL)";
  }
  return url_part(parsed.get(), CURLUPART_SCHEME) + "://" + url_part(parsed.get(), CURLUPART_HOST) +
         ":" + url_part(parsed.get(), CURLUPART_PORT, CURLU_DEFAULT_PORT) +
         url_part(parsed.get(), CURLUPART_PATH);
}

std::unique_ptr<Channel> make_webhook_channel(const AlertsConfig& config,
                                              const DispatcherOptions& options) {
  return std::make_unique<WebhookChannel>(config, options);
}

}  // namespace portcullis::alerts
