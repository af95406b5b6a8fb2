#include "tests/support/prometheus.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "common/unique_fd.h"
#include "tests/support/harness.h"

namespace portcullis::test {

namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

}  // namespace

HttpResponse http_get(std::uint16_t port, std::string_view path,
                      std::chrono::milliseconds timeout) {
  UniqueFd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (!sock || ::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error("nothing listens on 127.0.0.1:" + std::to_string(port));
  }
  const std::string request =
      "GET " + std::string(path) + " HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n";
  if (::send(sock.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return {};
  }
  std::string answer;
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{sock.get(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[16384];
    const ssize_t got = ::read(sock.get(), buffer, sizeof buffer);
    if (got <= 0) break;
    answer.append(buffer, static_cast<std::size_t>(got));
  }
  HttpResponse response;
  const std::size_t end_of_headers = answer.find("\r\n\r\n");
  if (!answer.starts_with("HTTP/1.") || end_of_headers == std::string::npos) return response;
  response.status = std::atoi(answer.c_str() + answer.find(' ') + 1);
  response.body = answer.substr(end_of_headers + 4);
  return response;
}

std::optional<double> sample_value(std::string_view exposition, std::string_view series) {
  std::istringstream in{std::string(exposition)};
  for (std::string line; std::getline(in, line);) {
    if (line.size() > series.size() && line.starts_with(series) && line[series.size()] == ' ') {
      return std::stod(line.substr(series.size() + 1));
    }
  }
  return std::nullopt;
}

bool have_promtool() { return std::filesystem::exists(kPromtool); }

std::optional<std::string> promtool_problems(const std::string& exposition) {
  if (!have_promtool()) throw std::runtime_error(std::string(kPromtool) + " is not installed");
  const e2e::RunResult result =
      e2e::run({kPromtool, "check", "metrics"},
               e2e::RunOptions().with_stdin(exposition).with_timeout(std::chrono::seconds(30)));
  if (result.exit_status == 0) return std::nullopt;
  return "promtool exit status " + std::to_string(result.exit_status) + ": " + result.out +
         result.err;
}

}  // namespace portcullis::test
