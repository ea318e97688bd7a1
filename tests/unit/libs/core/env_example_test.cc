// Every SPINE_* setting the code reads is documented in .env.example.
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "absl/strings/str_join.h"

namespace spine {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  INFO(path.string());
  REQUIRE(in);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// Every quoted "SPINE_..." string literal in the *.h / *.cc files under libs/ and services/.
std::set<std::string> SettingNamesInSource() {
  const std::regex literal(R"re("(SPINE_[A-Z0-9_]+)")re");
  std::set<std::string> names;
  for (const char* dir : {"libs", "services"}) {
    const fs::path root = fs::path(SPINE_SOURCE_DIR) / dir;
    INFO(root.string());
    REQUIRE(fs::is_directory(root));
    for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
      if (!entry.is_regular_file()) continue;
      const std::string ext = entry.path().extension().string();
      if (ext != ".h" && ext != ".cc") continue;
      const std::string text = ReadFile(entry.path());
      for (auto it = std::sregex_iterator(text.begin(), text.end(), literal);
           it != std::sregex_iterator(); ++it) {
        names.insert((*it)[1].str());
      }
    }
  }
  return names;
}

// Names that .env.example sets, as `NAME=...` or commented out as `# NAME=...`.
std::set<std::string> SettingNamesInEnvExample() {
  const std::regex assignment(R"(^\s*#?\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=)");
  std::set<std::string> names;
  std::istringstream lines(ReadFile(fs::path(SPINE_SOURCE_DIR) / ".env.example"));
  std::string line;
  while (std::getline(lines, line)) {
    std::smatch match;
    if (std::regex_search(line, match, assignment)) names.insert(match[1].str());
  }
  return names;
}

TEST_CASE("the setting-name scan finds the settings every service reads") {
  const std::set<std::string> names = SettingNamesInSource();
  CHECK(names.count("SPINE_LOG_LEVEL") == 1);
  CHECK(names.count("SPINE_STORAGE_ADDR") == 1);
  CHECK(names.count("SPINE_DEV_MODE") == 1);
  CHECK(names.size() >= 10);
  for (const std::string& name : names) CHECK(name.rfind("SPINE_", 0) == 0);
}

TEST_CASE("every setting read in the source is documented in .env.example") {
  const std::set<std::string> documented = SettingNamesInEnvExample();
  std::set<std::string> missing;
  for (const std::string& name : SettingNamesInSource()) {
    if (documented.count(name) == 0) missing.insert(name);
  }
  INFO("missing from .env.example: " << absl::StrJoin(missing, ", "));
  CHECK(missing.empty());
}

}  // namespace
}  // namespace spine
