// Reading a Prometheus endpoint the way a Prometheus server does: a plain HTTP GET over a
// socket, the text exposition format parsed for the value of one series, and the format
// checked by the real `promtool check metrics`.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portcullis::test {

struct HttpResponse {
  int status = 0;  // 0: no HTTP answer at all
  std::string body;
};

// GET http://127.0.0.1:PORT/PATH (HTTP/1.0, so the server closes after the answer). Throws
// std::runtime_error when nothing listens there.
HttpResponse http_get(std::uint16_t port, std::string_view path,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The value of `series` (the metric's name and labels exactly as the endpoint writes them,
// e.g. `portcullis_sessions_ended_total{reason="revoked"}`), or nullopt when absent.
std::optional<double> sample_value(std::string_view exposition, std::string_view series);

// `promtool check metrics` on `exposition`: nullopt when it accepts it, else what it said.
// Throws std::runtime_error when promtool is not installed (callers skip with a message).
std::optional<std::string> promtool_problems(const std::string& exposition);
bool have_promtool();

}  // namespace portcullis::test
