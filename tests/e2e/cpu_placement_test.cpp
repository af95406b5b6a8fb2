// The benchmarks' CPU placement (scale_bench --daemon-cpus): CPU lists parse as taskset writes
// them, and a real portcullisd started on a CPU of its own runs there with every thread, while
// whatever the test process starts after pinning itself runs on the others.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/harness.h"

namespace portcullis::e2e {
namespace {

// "Cpus_allowed_list:\t0-1" of /proc/PID[/task/TID]/status -> {0, 1}.
std::vector<int> allowed_cpus_of(const fs::path& status_file) {
  std::ifstream in(status_file);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with("Cpus_allowed_list:")) {
      std::string list = line.substr(line.find(':') + 1);
      list.erase(0, list.find_first_not_of(" \t"));
      return parse_cpu_list(list);
    }
  }
  return {};
}

TEST(CpuPlacement, CpuListsParseAsTasksetWritesThem) {
  EXPECT_EQ(parse_cpu_list("0"), (std::vector<int>{0}));
  EXPECT_EQ(parse_cpu_list("1-3"), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(parse_cpu_list("3,0-1,1"), (std::vector<int>{0, 1, 3}));
  EXPECT_EQ(cpu_list_text({0, 2, 3}), "0,2,3");
  for (const char* bad : {"", "a", "1-", "-1", "3-1", "1,,2", "0x1", "99999"}) {
    EXPECT_THROW(parse_cpu_list(bad), std::invalid_argument) << bad;
  }
}

TEST(CpuPlacement, DaemonRunsOnItsCpusAndWhatTheTestStartsLaterOnTheOthers) {
  const std::vector<int> allowed = allowed_cpus();
  ASSERT_FALSE(allowed.empty());
  if (allowed.size() < 2) GTEST_SKIP() << "one CPU: nothing to place apart";
  const std::vector<int> daemon_cpus{allowed.back()};
  const std::vector<int> others(allowed.begin(), allowed.end() - 1);

  // The pin applies to this thread and what it starts: a thread of its own, so the rest of the
  // test process keeps every CPU.
  std::vector<int> child_cpus;
  std::vector<int> thread_cpus;
  std::string failure;
  std::thread placed([&] {
    try {
      pin_to_cpus(others);
      Bastion bastion;
      bastion.run_on_cpus(daemon_cpus);
      bastion.start();
      // Every thread portcullisd started (the loop, its pools, the shipper) inherited its CPU.
      for (const auto& task :
           fs::directory_iterator("/proc/" + std::to_string(bastion.pid()) + "/task")) {
        const std::vector<int> cpus = allowed_cpus_of(task.path() / "status");
        if (cpus != daemon_cpus) {
          failure = "thread " + task.path().filename().string() + " runs on " +
                    cpu_list_text(cpus) + ", not " + cpu_list_text(daemon_cpus);
        }
      }
      thread_cpus = allowed_cpus();
      // A program started now (grep reads its own status).
      std::string listed = run_checked({"grep", "Cpus_allowed_list", "/proc/self/status"});
      listed = listed.substr(listed.find(':') + 1);
      const std::size_t first = listed.find_first_not_of(" \t");
      const std::size_t last = listed.find_last_not_of(" \t\n");
      child_cpus = parse_cpu_list(listed.substr(first, last - first + 1));
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  placed.join();
  EXPECT_EQ(failure, "");
  EXPECT_EQ(thread_cpus, others);
  EXPECT_EQ(child_cpus, others);
  EXPECT_EQ(allowed_cpus(), allowed) << "pinning one thread moved the whole test process";
}

}  // namespace
}  // namespace portcullis::e2e
