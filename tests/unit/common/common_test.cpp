// The smaller parts of `common`: addresses, times, private files, logging.
#include "common/common.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <fstream>
#include <system_error>

#include "tests/support/temp_dir.h"

namespace portcullis {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

TEST(ParseHostPort, HostsAndPorts) {
  HostPort v4 = parse_host_port("127.0.0.1:2222");
  EXPECT_EQ(v4.host, "127.0.0.1");
  EXPECT_EQ(v4.port, 2222);
  HostPort name = parse_host_port("bastion.example.com:22");
  EXPECT_EQ(name.host, "bastion.example.com");
  EXPECT_EQ(name.port, 22);
  HostPort v6 = parse_host_port("[::1]:65535");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.port, 65535);
}

TEST(ParseHostPort, RejectsWhatIsNotHostAndPort) {
  for (const char* text :
       {"localhost", ":22", "host:", "host:0", "host:65536", "host:99999999", "host:22x", "host:-1",
        "host:+22", "::1:22", "[::1]", "[::1]22", "[]:22", "[::1:22", ""}) {
    EXPECT_THROW(parse_host_port(text), std::invalid_argument) << text;
  }
  try {
    parse_host_port("::1:22");
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "\"::1:22\" is not HOST:PORT: write an IPv6 address in brackets (expected e.g. "
                 "127.0.0.1:2222, bastion.example.com:22 or [::1]:2222)");
  }
}

TEST(FormatRfc3339, UtcWithSecondPrecision) {
  const auto day = std::chrono::sys_days{std::chrono::year{2026} / 11 / 25};
  EXPECT_EQ(format_rfc3339(day + 5h), "2026-11-25T05:00:00Z");
  EXPECT_EQ(format_rfc3339(day + 23h + 59min + 59s + 999ms), "2026-11-25T23:59:59Z");
  EXPECT_EQ(format_rfc3339(std::chrono::system_clock::time_point{}), "1970-01-01T00:00:00Z");
}

// Restores the process umask when the test ends.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(WritePrivateFile, OwnerOnlyWithExactContents) {
  test::TempDir dir;
  const fs::path file = dir.path() / "secret";
  const std::string contents("key\0bytes\n", 10);
  {
    ScopedUmask permissive(0);
    write_private_file(file, contents);
  }
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0600u);
  std::ifstream in(file, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), contents);
}

TEST(WritePrivateFile, NeverReplacesAFile) {
  test::TempDir dir;
  const fs::path file = dir.write("existing", "old");
  try {
    write_private_file(file, "new");
    ADD_FAILURE() << "an existing file was replaced";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::file_exists);
    EXPECT_EQ(std::string(e.what()), "cannot create " + file.string() + ": File exists");
  }
  std::ifstream in(file);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "old");
}

TEST(WritePrivateFile, MissingFolderLeavesNothing) {
  test::TempDir dir;
  const fs::path file = dir.path() / "absent" / "secret";
  EXPECT_THROW(write_private_file(file, "x"), std::system_error);
  EXPECT_FALSE(fs::exists(file));
}

TEST(InitLogging, SetsTheLevelAndCanRunAgain) {
  init_logging("debug");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
  init_logging("warn");
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
  EXPECT_THROW(init_logging("loud"), std::invalid_argument);
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
}

// True when `text` has the shape of `pattern`, in which each '9' stands for any digit.
// (Not std::regex: GCC 12 warns inside it under -fsanitize=address, which -Werror turns fatal.)
bool has_shape(std::string_view text, std::string_view pattern) {
  if (text.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (pattern[i] == '9' ? !digit : text[i] != pattern[i]) return false;
  }
  return true;
}

// One line per event on stderr, stamped in UTC so lines from several nodes compare.
TEST(InitLogging, WritesUtcLinesToStderr) {
  init_logging("info");
  ::testing::internal::CaptureStderr();
  spdlog::info("hello {}", 42);
  spdlog::debug("not shown at info");
  const std::string output = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(has_shape(output, "9999-99-99T99:99:99.999Z info hello 42\n")) << output;
}

}  // namespace
}  // namespace portcullis
