#include "bench/routes.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
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

std::optional<std::string> proc_text(pid_t pid, const char* name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

double kib_field(pid_t pid, const char* file, const std::string& field) {
  const auto text = proc_text(pid, file);
  if (!text) return 0;
  const auto at = text->find("\n" + field);
  return at == std::string::npos ? 0 : std::stod(text->substr(at + field.size() + 1));
}

std::vector<std::string> stat_fields(pid_t pid) {
  const auto text = proc_text(pid, "stat");
  if (!text) return {};
  std::istringstream rest(text->substr(text->rfind(')') + 1));
  std::vector<std::string> fields;
  for (std::string field; rest >> field;) fields.push_back(field);
  return fields;
}

std::vector<pid_t> descendants(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> parent_of;  // (pid, parent)
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = std::stoi(name);
    const auto fields = stat_fields(pid);
    if (fields.size() > 1) parent_of.emplace_back(pid, std::stoi(fields[1]));
  }
  std::vector<pid_t> found{root};
  for (std::size_t i = 0; i < found.size(); ++i) {
    for (const auto& [pid, parent] : parent_of) {
      if (parent == found[i]) found.push_back(pid);
    }
  }
  found.erase(found.begin());
  return found;
}

double reaped_children_cpu_seconds(pid_t pid) {
  // cutime and cstime are fields 16 and 17 of /proc/PID/stat: [13] and [14] here.
  const auto fields = stat_fields(pid);
  if (fields.size() < 15) return 0;
  return (std::stod(fields[13]) + std::stod(fields[14])) /
         static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Footprint footprint(const std::vector<pid_t>& pids) {
  Footprint total;
  for (pid_t pid : pids) {
    total.rss_kib += kib_field(pid, "status", "VmRSS:");
    total.pss_kib += kib_field(pid, "smaps_rollup", "Pss:");
    total.cpu_s += cpu_seconds(pid);
  }
  return total;
}

double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(values.size())));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1];
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
