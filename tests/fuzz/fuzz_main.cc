// Replays a corpus through a fuzz target when it is not built with libFuzzer: every regular file in
// the directories (or the files) named on the command line is passed to LLVMFuzzerTestOneInput
// once. A target reports a bug by aborting; this exits non-zero when an argument cannot be read or
// nothing at all was run, so an empty or misplaced corpus fails CTest instead of passing silently.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

bool RunFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz_main: cannot read %s\n", path.c_str());
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Copied into an exactly sized buffer so that ASan catches a read one past the end.
  const std::vector<uint8_t> input(bytes.begin(), bytes.end());
  LLVMFuzzerTestOneInput(input.data(), input.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t runs = 0;
  bool ok = true;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path arg(argv[i]);
    std::error_code error;
    if (std::filesystem::is_directory(arg, error)) {
      for (const auto& entry : std::filesystem::directory_iterator(arg, error)) {
        if (!entry.is_regular_file()) continue;
        ok = RunFile(entry.path()) && ok;
        ++runs;
      }
      if (error) {
        std::fprintf(stderr, "fuzz_main: cannot list %s: %s\n", argv[i], error.message().c_str());
        ok = false;
      }
    } else if (std::filesystem::is_regular_file(arg, error)) {
      ok = RunFile(arg) && ok;
      ++runs;
    } else {
      std::fprintf(stderr, "fuzz_main: %s is not a file or directory\n", argv[i]);
      ok = false;
    }
  }
  std::printf("fuzz_main: ran %zu inputs\n", runs);
  if (runs == 0) {
    std::fprintf(stderr, "fuzz_main: no inputs (usage: %s DIR_OR_FILE...)\n", argv[0]);
    return 1;
  }
  return ok ? 0 : 1;
}
