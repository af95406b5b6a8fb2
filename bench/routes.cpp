#include "bench/routes.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <stdexcept>

namespace portcullis::bench {
namespace {

std::string join(const std::vector<std::string>& words) {
  std::string text;
  for (const auto& w : words) text += (text.empty() ? "" : " ") + w;
  return text;
}

}  // namespace

std::vector<std::string> concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Routes::Routes() : gateway_("2h") {}

Route Routes::direct() const {
  const e2e::TargetSshd& target = gateway_.target;
  return {"direct", concat(e2e::ssh_client_options(target.account_key().private_key, target.port()),
                           {target.account() + "@127.0.0.1"})};
}

Route Routes::jump() const {
  const e2e::TargetSshd& target = gateway_.target;
  auto hop =
      concat(e2e::ssh_client_options(jump_.account_key().private_key, jump_.port()),
             {"-W", "127.0.0.1:" + std::to_string(target.port()), jump_.account() + "@127.0.0.1"});
  return {"jump", concat(e2e::ssh_client_options(target.account_key().private_key, target.port()),
                         {"-o", "ProxyCommand=ssh " + join(hop), target.account() + "@127.0.0.1"})};
}

Route Routes::bastion() const { return bastion_node("bastion", gateway_.bastion.port()); }

Route Routes::bastion_node(std::string name, std::uint16_t port) const {
  return {std::move(name), concat(e2e::ssh_client_options(gateway_.user_key.private_key, port),
                                  {gateway_.login() + "@127.0.0.1"})};
}

void Routes::wait_for_shipping() const {
  const e2e::fs::path spool = gateway_.bastion.dir() / "state/spool";
  const bool shipped =
      e2e::wait_until([&] { return e2e::fs::is_empty(spool); }, std::chrono::minutes(5));
  if (!shipped) throw std::runtime_error("recordings were not shipped within 5 minutes");
}

double cpu_seconds(pid_t pid) {
  double total_ns = 0;
  std::error_code ec;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream in(task.path() / "schedstat");
    double running_ns = 0;
    if (in >> running_ns) total_ns += running_ns;
  }
  return total_ns / 1e9;
}

std::string fixed(double value, int digits) {
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

void publish(const std::string& report, const std::string& markdown_file) {
  std::cout << report;
  if (markdown_file.empty()) return;
  std::ofstream out(markdown_file);
  out << report;
  if (!out.flush()) throw std::runtime_error("cannot write " + markdown_file);
}

}  // namespace portcullis::bench
