// Fuzz target for ParseManifest (services/plugins/host/manifest.h): a plugin's plugin.json, which
// decides what the plugin's sandbox may read, write and connect to.
//
// The input is the manifest's text. It is checked against a real plugin folder made at start-up
// in a temporary directory (removed at exit):
//   <tmp>/hello-world/  index.js  main.cjs  data.txt  notes.txt  lib/util.js  dir.js/  (a folder)
//                       link.js -> index.js   lib-link -> lib   escape -> ../outside
//   <tmp>/outside/secret.js                                      (what no manifest may reach)
// with the plugins' data directory <tmp>/data, so entry and read paths resolve against files
// that exist and symlinks that lead in and out.
//
// Properties checked on every input:
//  - ParseManifest never crashes; a refusal is INVALID_ARGUMENT starting with the field's path;
//  - an accepted manifest is the folder's plugin: name "hello-world", runtime "node", a
//    semantic version of at most 64 bytes, a description of at most 1024 bytes;
//  - its entry is a .js/.cjs regular file inside the folder, its read paths are symlink-free
//    paths inside the folder (never <tmp>/outside) that include the entry, its write paths are
//    normalized, inside <tmp>/data/hello-world and do not nest, its ports are distinct 1..65535,
//    its limits are 1..ceiling and are what the manifest now says;
//  - the same text under bounds without a data directory is refused when it asks to write, and
//    otherwise gives the same plugin;
//  - the effective manifest, printed as JSON and parsed again, gives the same plugin.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "services/plugins/host/manifest.h"

namespace {

namespace fs = std::filesystem;
using spine::plugins::LoadedPlugin;
using spine::plugins::ManifestBounds;

void Fail(const char* what) {
  std::fprintf(stderr, "plugin_manifest_fuzz: %s\n", what);
  std::abort();
}

struct Fixture {
  std::string root;    // realpath of the temporary directory
  std::string folder;  // <root>/hello-world
  std::string own_data_dir;
  ManifestBounds bounds{};
  ManifestBounds no_data_dir{};
};

void WriteFile(const fs::path& path, absl::string_view text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) Fail("cannot write the fixture");
}

const Fixture& TheFixture() {
  static const Fixture fixture = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = absl::StrCat(tmp != nullptr && tmp[0] != '\0' ? tmp : "/tmp",
                                       "/spine-manifest-fuzz-XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) Fail("cannot make the fixture's directory");
    Fixture f;
    std::error_code error;
    f.root = fs::canonical(pattern, error).string();
    if (error) Fail("cannot resolve the fixture's directory");
    // Removed at exit; a crash leaves it behind, named for what made it.
    static const std::string to_remove = f.root;
    std::atexit([] {
      std::error_code ignored;
      fs::remove_all(to_remove, ignored);
    });
    const fs::path folder = fs::path(f.root) / "hello-world";
    fs::create_directories(folder / "lib");
    fs::create_directories(folder / "dir.js");
    fs::create_directories(fs::path(f.root) / "outside");
    WriteFile(folder / "index.js", "module.exports = () => ({});\n");
    WriteFile(folder / "main.cjs", "module.exports = () => ({});\n");
    WriteFile(folder / "data.txt", "data\n");
    WriteFile(folder / "notes.txt", "notes\n");
    WriteFile(folder / "lib" / "util.js", "module.exports = {};\n");
    WriteFile(fs::path(f.root) / "outside" / "secret.js", "secret\n");
    fs::create_symlink("index.js", folder / "link.js");
    fs::create_directory_symlink("lib", folder / "lib-link");
    fs::create_directory_symlink("../outside", folder / "escape");
    f.folder = folder.string();
    f.bounds.data_dir = f.root + "/data";
    f.own_data_dir = f.bounds.data_dir + "/hello-world";
    return f;
  }();
  return fixture;
}

bool Inside(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

bool SymlinkFree(const std::string& path) {
  std::error_code error;
  return fs::canonical(path, error).string() == path && !error;
}

void CheckRefusal(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kInvalidArgument)
    Fail("a refusal is not INVALID_ARGUMENT");
  static constexpr absl::string_view kFields[] = {
      "plugin.json: ", "name: ",  "version: ",   "description: ",
      "runtime: ",     "entry: ", "permissions."};
  for (const absl::string_view field : kFields) {
    if (absl::StartsWith(status.message(), field)) return;
  }
  Fail("a refusal does not start with the field's path");
}

void CheckLimit(int32_t value, int32_t ceiling, int32_t in_manifest) {
  if (value < 1 || value > ceiling) Fail("a limit out of 1..ceiling");
  if (value != in_manifest) Fail("the manifest does not say the effective limit");
}

void CheckAccepted(const Fixture& f, const LoadedPlugin& plugin) {
  const spine::v1::PluginManifest& m = plugin.manifest;
  if (m.name() != "hello-world") Fail("accepted a name that is not the folder's");
  if (m.runtime() != "node") Fail("accepted a runtime other than node");
  if (m.version().empty() || m.version().size() > 64 || m.version()[0] < '0' ||
      m.version()[0] > '9') {
    Fail("accepted a version that is not semver");
  }
  if (m.description().size() > 1024) Fail("accepted a description over 1024 bytes");
  if (plugin.folder != f.folder) Fail("the folder is not the fixture's");

  if (!Inside(plugin.entry_path, f.folder) || plugin.entry_path == f.folder) {
    Fail("the entry is outside the folder");
  }
  if (!absl::EndsWith(plugin.entry_path, ".js") && !absl::EndsWith(plugin.entry_path, ".cjs")) {
    Fail("the entry is not a .js or .cjs file");
  }
  std::error_code error;
  if (!fs::is_regular_file(plugin.entry_path, error) || !SymlinkFree(plugin.entry_path)) {
    Fail("the entry is not a symlink-free regular file");
  }

  if (plugin.read_paths.empty() || plugin.read_paths.size() > 33) Fail("read path count");
  bool entry_readable = false;
  for (const std::string& path : plugin.read_paths) {
    if (!Inside(path, f.folder) || !SymlinkFree(path)) Fail("a read path outside the folder");
    entry_readable = entry_readable || Inside(plugin.entry_path, path);
  }
  if (!entry_readable) Fail("no read path holds the entry");

  if (plugin.write_paths.size() > 32) Fail("write path count");
  for (size_t i = 0; i < plugin.write_paths.size(); ++i) {
    const std::string& path = plugin.write_paths[i];
    if (!Inside(path, f.own_data_dir)) Fail("a write path outside the plugin's data directory");
    if (absl::StrContains(path, "//") || absl::StrContains(path, "/./") ||
        absl::StrContains(path, "/../") || absl::EndsWith(path, "/.") ||
        absl::EndsWith(path, "/..") || absl::EndsWith(path, "/")) {
      Fail("a write path is not normalized");
    }
    for (size_t j = 0; j < i; ++j) {
      if (Inside(path, plugin.write_paths[j]) || Inside(plugin.write_paths[j], path)) {
        Fail("write paths nest");
      }
    }
  }

  const auto& ports = m.permissions().network().connect_ports();
  if (ports.size() > 16 || plugin.connect_ports.size() != static_cast<size_t>(ports.size())) {
    Fail("port count");
  }
  std::set<uint16_t> seen;
  for (size_t i = 0; i < plugin.connect_ports.size(); ++i) {
    const uint16_t port = plugin.connect_ports[i];
    if (port == 0 || !seen.insert(port).second || port != ports[static_cast<int>(i)]) {
      Fail("a port that is 0, repeated or not the manifest's");
    }
  }

  const spine::plugins::PluginLimitValues& c = f.bounds.ceilings;
  const spine::v1::PluginLimits& said = m.permissions().limits();
  CheckLimit(plugin.limits.timeout_ms, c.timeout_ms, said.timeout_ms());
  CheckLimit(plugin.limits.memory_mb, c.memory_mb, said.memory_mb());
  CheckLimit(plugin.limits.cpu_seconds, c.cpu_seconds, said.cpu_seconds());
  CheckLimit(plugin.limits.max_output_kb, c.max_output_kb, said.max_output_kb());
  CheckLimit(plugin.limits.concurrency, c.concurrency, said.concurrency());
}

bool SamePlugin(const LoadedPlugin& a, const LoadedPlugin& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a.manifest, b.manifest) &&
         a.folder == b.folder && a.entry_path == b.entry_path && a.read_paths == b.read_paths &&
         a.write_paths == b.write_paths && a.connect_ports == b.connect_ports &&
         a.data_quota_bytes == b.data_quota_bytes;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Fixture& f = TheFixture();
  // Bytes from a fuzzer are a char buffer by contract.
  const std::string json(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<LoadedPlugin> plugin =
      spine::plugins::ParseManifest(json, f.folder, f.bounds);
  const absl::StatusOr<LoadedPlugin> without =
      spine::plugins::ParseManifest(json, f.folder, f.no_data_dir);
  if (!plugin.ok()) {
    CheckRefusal(plugin.status());
    if (without.ok()) Fail("accepted without a data directory, refused with one");
    return 0;
  }
  CheckAccepted(f, *plugin);
  if (plugin->manifest.permissions().fs().write_size() > 0) {
    if (without.ok() || !absl::StartsWith(without.status().message(), "permissions.fs.write")) {
      Fail("a write path accepted without a data directory");
    }
  } else if (!without.ok() || !SamePlugin(*without, *plugin)) {
    Fail("without writes, the data directory changed the result");
  }

  std::string printed;
  if (!google::protobuf::util::MessageToJsonString(plugin->manifest, &printed).ok()) {
    Fail("the effective manifest does not print");
  }
  const absl::StatusOr<LoadedPlugin> again =
      spine::plugins::ParseManifest(printed, f.folder, f.bounds);
  if (!again.ok()) {
    std::fprintf(stderr, "plugin_manifest_fuzz: %s refused: %s\n", printed.c_str(),
                 std::string(again.status().message()).c_str());
    Fail("the effective manifest, printed, is refused");
  }
  if (!SamePlugin(*again, *plugin)) Fail("the effective manifest, printed, is another plugin");
  return 0;
}
