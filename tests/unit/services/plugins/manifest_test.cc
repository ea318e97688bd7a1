// Manifests against real temp folders: every rule of issue 6, each refusal naming its field.
#include "services/plugins/host/manifest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/plugins/sandbox/read_probe.h"
#include "tests/support/child_process.h"

namespace spine::plugins {
namespace {

// A temp dir holding a plugin folder `demo` with an index.js.
class PluginFolder {
 public:
  PluginFolder() : folder_(dir_.path() + "/demo") {
    REQUIRE(mkdir(folder_.c_str(), 0755) == 0);
    Write("index.js", "module.exports = async (x) => x;\n");
    bounds_.data_dir = dir_.path() + "/data/plugins";
  }
  // Writes `name` inside the plugin folder.
  void Write(const std::string& name, const std::string& contents) const {
    dir_.WriteFile("demo/" + name, contents, 0644);
  }
  absl::StatusOr<LoadedPlugin> Parse(const std::string& json) const {
    return ParseManifest(json, folder_, bounds_);
  }
  const std::string& folder() const { return folder_; }
  const std::string& root() const { return dir_.path(); }
  ManifestBounds& bounds() { return bounds_; }

 private:
  testing::TempDir dir_;
  std::string folder_;
  ManifestBounds bounds_;
};

std::string Manifest(const std::string& extra = "", const std::string& name = "demo",
                     const std::string& entry = "index.js") {
  return absl::StrCat(R"({"name":")", name, R"(","version":"1.2.3","description":"d",)",
                      R"("runtime":"node","entry":")", entry, R"(")", extra, "}");
}

// The refusal's message; it must be INVALID_ARGUMENT.
std::string ErrorOf(const absl::StatusOr<LoadedPlugin>& result) {
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

}  // namespace

TEST_CASE("a minimal manifest loads with the default permissions and limits") {
  PluginFolder plugin;
  const absl::StatusOr<LoadedPlugin> loaded = plugin.Parse(Manifest());
  REQUIRE(loaded.ok());
  CHECK(loaded->manifest.name() == "demo");
  CHECK(loaded->entry_path == plugin.folder() + "/index.js");
  CHECK(loaded->read_paths == std::vector<std::string>{plugin.folder()});
  CHECK(loaded->write_paths.empty());
  CHECK(loaded->connect_ports.empty());
  CHECK(loaded->limits.timeout_ms == 5000);
  CHECK(loaded->limits.memory_mb == 128);
  CHECK(loaded->limits.concurrency == 2);
  // The manifest carries the effective limits, for GetPlugin.
  CHECK(loaded->manifest.permissions().limits().max_output_kb() == 256);
}

TEST_CASE("declared permissions and limits within the ceilings are kept") {
  PluginFolder plugin;
  REQUIRE(mkdir((plugin.folder() + "/lib").c_str(), 0755) == 0);
  const absl::StatusOr<LoadedPlugin> loaded = plugin.Parse(Manifest(
      R"(,"permissions":{"fs":{"read":["lib"],"write":["cache", "/x"]},)"
      R"("network":{"connectPorts":[443, 8080]},)"
      R"("limits":{"timeoutMs":1000,"memoryMB":64,"cpuSeconds":2,"maxOutputKB":16,"concurrency":4}})"));
  // "/x" is absolute and outside the data dir.
  CHECK(absl::StartsWith(ErrorOf(loaded), "permissions.fs.write[1]: "));

  const std::string data = plugin.root() + "/data/plugins/demo";
  const absl::StatusOr<LoadedPlugin> ok = plugin.Parse(Manifest(absl::StrCat(
      R"(,"permissions":{"fs":{"read":["lib"],"write":["cache", ")", data, R"(/logs"]},)",
      R"("network":{"connectPorts":[443, 8080]},)",
      R"("limits":{"timeoutMs":1000,"memoryMB":64,"cpuSeconds":2,"maxOutputKB":16,"concurrency":4}})")));
  REQUIRE(ok.ok());
  // The entry stays readable even though only lib/ was asked for.
  CHECK(ok->read_paths ==
        std::vector<std::string>{plugin.folder() + "/lib", plugin.folder() + "/index.js"});
  CHECK(ok->write_paths == std::vector<std::string>{data + "/cache", data + "/logs"});
  CHECK(ok->connect_ports == std::vector<uint16_t>{443, 8080});
  CHECK(ok->limits.timeout_ms == 1000);
  CHECK(ok->limits.memory_mb == 64);
  CHECK(ok->limits.cpu_seconds == 2);
  CHECK(ok->limits.max_output_kb == 16);
  CHECK(ok->limits.concurrency == 4);
}

TEST_CASE("unknown fields and malformed JSON are refused") {
  PluginFolder plugin;
  CHECK(absl::StrContains(ErrorOf(plugin.Parse(Manifest(R"(,"sandbox":false)"))), "sandbox"));
  CHECK(absl::StrContains(
      ErrorOf(plugin.Parse(Manifest(R"(,"permissions":{"fs":{"exec":["x"]}})"))), "exec"));
  CHECK(absl::StartsWith(ErrorOf(plugin.Parse("{")), "plugin.json: "));
  CHECK(absl::StartsWith(ErrorOf(plugin.Parse(R"({"name": 5})")), "plugin.json: "));
}

TEST_CASE("name, version and runtime are checked") {
  PluginFolder plugin;
  for (const char* bad : {"Demo", "-demo", "de_mo", ""}) {
    INFO(bad);
    CHECK(absl::StartsWith(ErrorOf(plugin.Parse(Manifest("", bad))), "name: "));
  }
  // A valid name that is not the folder's.
  CHECK(absl::StrContains(ErrorOf(plugin.Parse(Manifest("", "other"))), "folder"));
  // "list" is the listing's path segment: such a plugin could never be read by name.
  CHECK(absl::StrContains(ErrorOf(plugin.Parse(Manifest("", "list"))), "reserved"));
  for (const char* bad : {"1", "1.2", "01.2.3", "1.2.3.4", "v1.2.3", "1.2.3-"}) {
    INFO(bad);
    std::string json = Manifest();
    json.replace(json.find("1.2.3"), 5, bad);
    CHECK(absl::StartsWith(ErrorOf(plugin.Parse(json)), "version: "));
  }
  std::string prerelease = Manifest();
  prerelease.replace(prerelease.find("1.2.3"), 5, "1.0.0-rc.1+build.5");
  CHECK(plugin.Parse(prerelease).ok());
  std::string python = Manifest();
  python.replace(python.find("\"node\""), 6, "\"python\"");
  CHECK(absl::StartsWith(ErrorOf(plugin.Parse(python)), "runtime: "));
}

TEST_CASE("an entry outside the folder is refused: '..', absolute, symlinks out, missing") {
  PluginFolder plugin;
  plugin.Write("../outside.js", "module.exports = () => 1;\n");
  REQUIRE(symlink((plugin.root() + "/outside.js").c_str(),
                  (plugin.folder() + "/link.js").c_str()) == 0);
  REQUIRE(symlink("/etc", (plugin.folder() + "/etc").c_str()) == 0);
  for (const std::string entry : {"../outside.js", "/etc/passwd", "link.js", "etc/passwd",
                                  "missing.js", "", "./../demo/index.js"}) {
    INFO(entry);
    CHECK(absl::StartsWith(ErrorOf(plugin.Parse(Manifest("", "demo", entry))), "entry: "));
  }
  plugin.Write("notes.txt", "x");
  CHECK(absl::StartsWith(ErrorOf(plugin.Parse(Manifest("", "demo", "notes.txt"))), "entry: "));
  // A symlink that stays inside is fine.
  REQUIRE(symlink("index.js", (plugin.folder() + "/main.js").c_str()) == 0);
  const absl::StatusOr<LoadedPlugin> inside = plugin.Parse(Manifest("", "demo", "main.js"));
  REQUIRE(inside.ok());
  CHECK(inside->entry_path == plugin.folder() + "/index.js");
}

TEST_CASE("fs.read outside the folder and fs.write outside the data dir are refused") {
  PluginFolder plugin;
  REQUIRE(symlink("/etc", (plugin.folder() + "/etc").c_str()) == 0);
  for (const char* read : {R"("..")", R"("/etc")", R"("etc")", R"("missing")"}) {
    INFO(read);
    CHECK(absl::StartsWith(ErrorOf(plugin.Parse(Manifest(
                               absl::StrCat(R"(,"permissions":{"fs":{"read":[)", read, "]}}")))),
                           "permissions.fs.read[0]: "));
  }
  for (const char* write : {R"("../other")", R"("/tmp")", R"("a/../../other")"}) {
    INFO(write);
    CHECK(absl::StartsWith(ErrorOf(plugin.Parse(Manifest(
                               absl::StrCat(R"(,"permissions":{"fs":{"write":[)", write, "]}}")))),
                           "permissions.fs.write[0]: "));
  }
  // Nested write paths would let the plugin swap the inner one for a symlink.
  CHECK(absl::StartsWith(
      ErrorOf(plugin.Parse(Manifest(R"(,"permissions":{"fs":{"write":["", "cache"]}})"))),
      "permissions.fs.write[1]: "));
}

TEST_CASE("ports and limits out of bounds are refused, naming the field") {
  PluginFolder plugin;
  for (const char* ports : {"0", "65536", "-1", "80, 80"}) {
    INFO(ports);
    CHECK(absl::StartsWith(ErrorOf(plugin.Parse(Manifest(absl::StrCat(
                               R"(,"permissions":{"network":{"connectPorts":[)", ports, "]}}")))),
                           "permissions.network.connectPorts["));
  }
  struct Case {
    const char* field;
    int value;
  };
  for (const Case c :
       {Case{"timeoutMs", 60001}, Case{"memoryMB", 1025}, Case{"cpuSeconds", 61},
        Case{"maxOutputKB", 4097}, Case{"concurrency", 17}, Case{"concurrency", -1}}) {
    INFO(c.field << " " << c.value);
    CHECK(
        absl::StartsWith(ErrorOf(plugin.Parse(Manifest(absl::StrCat(
                             R"(,"permissions":{"limits":{")", c.field, R"(":)", c.value, "}}")))),
                         absl::StrCat("permissions.limits.", c.field, ": ")));
  }
  // The ceilings come from the config.
  plugin.bounds().ceilings.memory_mb = 64;
  CHECK(absl::StartsWith(
      ErrorOf(plugin.Parse(Manifest(R"(,"permissions":{"limits":{"memoryMB":65}})"))),
      "permissions.limits.memoryMB: "));
}

TEST_CASE("the loader loads the good plugins and refuses the bad ones, each on its own") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);  // the sandbox's user must reach the entries
  for (const char* name : {"good", "bad-entry", "bad-json", "_skipped", "big"}) {
    REQUIRE(mkdir((dir.path() + "/" + name).c_str(), 0755) == 0);
    dir.WriteFile(std::string(name) + "/index.js", "module.exports = () => 1;\n", 0644);
  }
  REQUIRE(mkdir((dir.path() + "/no-manifest").c_str(), 0755) == 0);
  dir.WriteFile("good/plugin.json", Manifest("", "good"), 0644);
  dir.WriteFile("bad-entry/plugin.json", Manifest("", "bad-entry", "../good/index.js"), 0644);
  dir.WriteFile("bad-json/plugin.json", "{", 0644);
  dir.WriteFile("_skipped/plugin.json", "{", 0644);
  dir.WriteFile("big/plugin.json", std::string(size_t{70} * 1024, ' '), 0644);
  ManifestBounds bounds;
  const absl::StatusOr<LoadedPlugins> loaded = LoadPluginsDir(dir.path(), bounds);
  REQUIRE(loaded.ok());
  REQUIRE(loaded->plugins.size() == 1);
  CHECK(loaded->plugins[0].manifest.name() == "good");
  REQUIRE(loaded->refused.size() == 3);
  CHECK(loaded->refused[0].name == "bad-entry");
  CHECK(absl::StartsWith(loaded->refused[0].why.message(), "entry: "));
  // What plugin.json says is kept for the listing, even though it was refused.
  CHECK(loaded->refused[0].manifest.version() == "1.2.3");
  CHECK(loaded->refused[1].name == "bad-json");
  CHECK(loaded->refused[1].manifest.version().empty());
  CHECK(loaded->refused[2].name == "big");
  CHECK(absl::StrContains(loaded->refused[2].why.message(), "larger than"));

  // A second entry for the same plugin (a symlink) is refused; the first still loads.
  REQUIRE(symlink((dir.path() + "/good").c_str(), (dir.path() + "/zz-again").c_str()) == 0);
  const absl::StatusOr<LoadedPlugins> again = LoadPluginsDir(dir.path(), bounds);
  REQUIRE(again.ok());
  REQUIRE(again->plugins.size() == 1);
  REQUIRE(again->refused.size() == 4);
  CHECK(again->refused[3].name == "zz-again");
  CHECK(absl::StartsWith(again->refused[3].why.message(), "name: "));

  CHECK(LoadPluginsDir(dir.path() + "/missing", bounds).status().code() ==
        absl::StatusCode::kNotFound);
}

TEST_CASE("a plugin's fingerprint changes with its manifest or any of its files, and only then") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);  // the sandbox's user must reach the entries
  REQUIRE(mkdir((dir.path() + "/demo").c_str(), 0755) == 0);
  REQUIRE(mkdir((dir.path() + "/demo/lib").c_str(), 0755) == 0);
  dir.WriteFile("demo/index.js", "module.exports = () => require('./lib/a.js');\n", 0644);
  dir.WriteFile("demo/lib/a.js", "module.exports = 1;\n", 0644);
  dir.WriteFile("demo/plugin.json", Manifest(), 0644);
  const ManifestBounds bounds;
  auto fingerprint = [&] {
    absl::StatusOr<LoadedPlugin> loaded = LoadPlugin(dir.path() + "/demo", bounds);
    REQUIRE(loaded.ok());
    return loaded->fingerprint;
  };
  const std::string first = fingerprint();
  CHECK(first.size() == 32);
  CHECK(fingerprint() == first);
  // Same size, same name, one byte different, deep in the folder.
  dir.WriteFile("demo/lib/a.js", "module.exports = 2;\n", 0644);
  const std::string changed_file = fingerprint();
  CHECK(changed_file != first);
  dir.WriteFile("demo/lib/b.js", "", 0644);  // a new empty file counts too
  const std::string added_file = fingerprint();
  CHECK(added_file != changed_file);
  dir.WriteFile("demo/plugin.json", Manifest(R"(,"permissions":{"limits":{"timeoutMs":900}})"),
                0644);
  CHECK(fingerprint() != added_file);
}

TEST_CASE("a plugin the sandbox's user cannot read is refused, saying what to fix") {
  if (geteuid() != 0) {
    WARN("skipped: needs root to make files another user owns");
    return;
  }
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  for (const char* name : {"good", "locked", "unreadable", "deep"}) {
    REQUIRE(mkdir((dir.path() + "/" + name).c_str(), 0755) == 0);
    dir.WriteFile(std::string(name) + "/plugin.json", Manifest("", name), 0644);
    dir.WriteFile(std::string(name) + "/index.js", "module.exports = () => 1;\n", 0644);
  }
  // The issue's case: the folder belongs to another user and only that user may enter it.
  REQUIRE(chmod((dir.path() + "/locked").c_str(), 0700) == 0);
  REQUIRE(chown((dir.path() + "/locked").c_str(), 4242, 4242) == 0);
  // The entry itself cannot be read by anyone but root.
  REQUIRE(chmod((dir.path() + "/unreadable/index.js").c_str(), 0600) == 0);
  // The entry sits in a sub-folder nobody else may enter.
  REQUIRE(mkdir((dir.path() + "/deep/lib").c_str(), 0700) == 0);
  dir.WriteFile("deep/lib/main.js", "module.exports = () => 1;\n", 0644);
  dir.WriteFile("deep/plugin.json", Manifest("", "deep", "lib/main.js"), 0644);

  const absl::StatusOr<LoadedPlugins> loaded = LoadPluginsDir(dir.path(), ManifestBounds{});
  REQUIRE(loaded.ok());
  REQUIRE(loaded->plugins.size() == 1);
  CHECK(loaded->plugins[0].manifest.name() == "good");
  REQUIRE(loaded->refused.size() == 3);
  CHECK(loaded->refused[0].name == "deep");
  CHECK(loaded->refused[0].why.message() ==
        "entry: the folder 'lib' in the plugin folder is not readable by the sandbox user 65534 "
        "(owner uid 0, mode 0700: Permission denied)");
  CHECK(loaded->refused[1].name == "locked");
  CHECK(loaded->refused[1].why.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(loaded->refused[1].why.message() ==
        "entry: the plugin folder is not readable by the sandbox user 65534 (owner uid 4242, mode "
        "0700: Permission denied)");
  CHECK(loaded->refused[1].manifest.version() == "1.2.3");
  CHECK(loaded->refused[2].name == "unreadable");
  CHECK(loaded->refused[2].why.message() ==
        "entry: the entry 'index.js' is not readable by the sandbox user 65534 (owner uid 0, "
        "mode 0600: Permission denied)");
  // No host path in what the API will show.
  for (const RefusedPlugin& refused : loaded->refused) {
    CHECK_FALSE(absl::StrContains(refused.why.message(), dir.path()));
  }

  // The folder above the plugins cannot be entered: every plugin says so.
  REQUIRE(chmod(dir.path().c_str(), 0700) == 0);
  const absl::StatusOr<LoadedPlugins> above = LoadPluginsDir(dir.path(), ManifestBounds{});
  REQUIRE(above.ok());
  CHECK(above->plugins.empty());
  REQUIRE(above->refused.size() == 4);
  CHECK(absl::StartsWith(above->refused[1].why.message(), "entry: the folder 'spine-test-"));
  CHECK(absl::StrContains(above->refused[1].why.message(),
                          "' above the plugin folder is not readable by the sandbox user 65534"));
}

TEST_CASE("the read probe asks the kernel as the given user, not the mode bits") {
  if (geteuid() != 0) {
    WARN("skipped: needs root to take another user's identity");
    return;
  }
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string file = dir.WriteFile("f.js", "1", 0640);
  REQUIRE(chown(file.c_str(), 0, 4242) == 0);
  // Group 4242 may read it; other users may not.
  const absl::StatusOr<sandbox::ReadProbe> member = sandbox::ProbeReadableAs(file, 4343, 4242);
  REQUIRE(member.ok());
  CHECK(member->readable);
  const absl::StatusOr<sandbox::ReadProbe> other = sandbox::ProbeReadableAs(file, 4343, 4343);
  REQUIRE(other.ok());
  CHECK_FALSE(other->readable);
  CHECK(other->blocked_at == file);
  CHECK(other->error == EACCES);
  // A missing file is reported where it is missing.
  const absl::StatusOr<sandbox::ReadProbe> missing =
      sandbox::ProbeReadableAs(dir.path() + "/none/f.js", 4343, 4343);
  REQUIRE(missing.ok());
  CHECK_FALSE(missing->readable);
  CHECK(missing->blocked_at == dir.path() + "/none");
  CHECK(missing->error == ENOENT);
  CHECK(sandbox::ProbeReadableAs("relative.js", 4343, 4343).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the shipped example plugins load") {
  const absl::StatusOr<LoadedPlugins> loaded =
      LoadPluginsDir(SPINE_SOURCE_DIR "/plugins", ManifestBounds{});
  REQUIRE(loaded.ok());
  CHECK(loaded->refused.empty());
  REQUIRE(loaded->plugins.size() == 3);
  CHECK(loaded->plugins[0].manifest.name() == "hello-world");
  CHECK(loaded->plugins[1].manifest.name() == "uppercase");
  CHECK(loaded->plugins[2].manifest.name() == "word-count");
}

}  // namespace spine::plugins
