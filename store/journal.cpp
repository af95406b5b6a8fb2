#include "store/journal.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <system_error>

namespace portcullis::store {
namespace {

namespace fs = std::filesystem;
using Micros = std::chrono::microseconds;

std::system_error os_error(const std::string& what) {
  return std::system_error(errno, std::generic_category(), what);
}

// Ids and kinds are plain words: letters, digits and ":._-", at most `longest` bytes.
bool is_word(const nlohmann::json& value, std::size_t longest) {
  if (!value.is_string()) return false;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.empty() || text.size() > longest) return false;
  for (char c : text) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != ':' && c != '.' && c != '_' &&
        c != '-') {
      return false;
    }
  }
  return true;
}

// One line as an entry, or the reason it is not one. The file is ours, but a damaged disk or a
// hand edit must cost one entry and a clear message, never the daemon.
JournalEntry parse_line(std::string_view line) {
  const nlohmann::json json = nlohmann::json::parse(line);
  if (!json.is_object()) throw std::invalid_argument("not a JSON object");
  if (!is_word(json.value("id", nlohmann::json()), 128)) {
    throw std::invalid_argument("no valid \"id\"");
  }
  if (!is_word(json.value("kind", nlohmann::json()), 64)) {
    throw std::invalid_argument("no valid \"kind\"");
  }
  const nlohmann::json& at = json.value("at_us", nlohmann::json());
  if (!at.is_number_integer()) throw std::invalid_argument("no valid \"at_us\"");
  const nlohmann::json& fields = json.value("fields", nlohmann::json());
  if (!fields.is_object()) throw std::invalid_argument("no \"fields\" object");
  JournalEntry entry;
  entry.id = json["id"].get<std::string>();
  entry.kind = json["kind"].get<std::string>();
  entry.at = std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          Micros(at.get<std::int64_t>())));
  entry.fields = fields;
  return entry;
}

JournalContents parse(std::string_view text) {
  JournalContents contents;
  std::size_t number = 0;
  while (!text.empty()) {
    ++number;
    const std::size_t end = text.find('\n');
    // Cut short by a crash: written but never made durable, so never acknowledged.
    if (end == std::string_view::npos) break;
    const std::string_view line = text.substr(0, end);
    text.remove_prefix(end + 1);
    if (line.size() > kMaxJournalLine) {
      contents.problems.push_back("line " + std::to_string(number) + ": longer than " +
                                  std::to_string(kMaxJournalLine) + " bytes");
      continue;
    }
    try {
      contents.entries.push_back(parse_line(line));
    } catch (const std::exception& e) {
      contents.problems.push_back("line " + std::to_string(number) + ": " + one_line(e.what()));
    }
  }
  return contents;
}

std::string read_all(int fd, const fs::path& path) {
  std::string text;
  char buffer[65536];
  for (off_t offset = 0;;) {
    const ssize_t n = ::pread(fd, buffer, sizeof buffer, offset);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw os_error("cannot read " + path.string());
    if (n == 0) return text;
    text.append(buffer, static_cast<std::size_t>(n));
    offset += n;
  }
}

}  // namespace

std::string JournalEntry::to_line() const {
  const auto at_us = std::chrono::duration_cast<Micros>(at.time_since_epoch()).count();
  const nlohmann::json json{{"id", id}, {"kind", kind}, {"at_us", at_us}, {"fields", fields}};
  // Invalid UTF-8 in a field must not make the entry unwritable: it is replaced, not thrown.
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

JournalContents read_journal(const fs::path& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd && errno == ENOENT) return {};
  if (!fd) throw os_error("cannot read " + path.string());
  return parse(read_all(fd.get(), path));
}

JournalFile::JournalFile(fs::path path) : path_(std::move(path)) {
  fd_.reset(::open(path_.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd_) throw os_error("cannot open the journal " + path_.string());
  if (::flock(fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      throw std::system_error(errno, std::generic_category(),
                              "the journal " + path_.string() +
                                  " is in use by another process (is a second portcullisd "
                                  "running with this config?)");
    }
    throw os_error("cannot lock the journal " + path_.string());
  }
  struct stat info {};
  if (::fstat(fd_.get(), &info) != 0) throw os_error("cannot read " + path_.string());
  size_ = static_cast<std::uint64_t>(info.st_size);
  // The file must survive a crash that follows its first entry.
  sync_directory(path_.parent_path());
}

JournalContents JournalFile::read() const { return parse(read_all(fd_.get(), path_)); }

void JournalFile::append(const std::vector<JournalEntry>& entries) {
  std::string text;
  for (const JournalEntry& entry : entries) text += entry.to_line();
  write_all(fd_, text, path_);
  size_ += text.size();
  if (::fdatasync(fd_.get()) != 0) throw os_error("cannot sync " + path_.string());
}

void JournalFile::clear() {
  if (::ftruncate(fd_.get(), 0) != 0) throw os_error("cannot empty " + path_.string());
  size_ = 0;
  if (::fdatasync(fd_.get()) != 0) throw os_error("cannot sync " + path_.string());
}

}  // namespace portcullis::store
