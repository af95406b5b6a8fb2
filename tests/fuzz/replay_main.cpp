// Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput once on every file named
// on the command line and on every file under every folder named there. A crash, a sanitizer
// report or an escaping exception fails the run, which is what makes a corpus a regression test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

// Every regular file at or under `path`, sorted so that runs are reproducible.
std::vector<fs::path> inputs_at(const fs::path& path) {
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(path)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(path);
  }
  return files;
}

std::string read_bytes(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw fs::filesystem_error("cannot read", file, std::make_error_code(std::errc::io_error));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_FOLDER...\n", argv[0]);
    return 2;
  }
  std::size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const std::vector<fs::path> files = inputs_at(argv[i]);
    if (files.empty()) {
      std::fprintf(stderr, "%s: no inputs (an empty corpus tests nothing)\n", argv[i]);
      return 1;
    }
    for (const fs::path& file : files) {
      // Named before it runs, so the log says which input crashed.
      std::fprintf(stderr, "replaying %s\n", file.c_str());
      const std::string bytes = read_bytes(file);
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
      ++replayed;
    }
  }
  std::fprintf(stderr, "%zu inputs replayed without a crash\n", replayed);
  return 0;
}
