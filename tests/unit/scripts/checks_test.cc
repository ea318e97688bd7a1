// Tests for the repository checks CI runs (scripts/check-secrets, check-layers, check-links,
// check-sanitizer-reports) and for the local launcher's stop script (deploy/local/spine-down).
//
// Every planted secret is assembled at run time from pieces, so this file never contains
// a string the secret scan would flag.

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "absl/time/time.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace {

namespace fs = std::filesystem;

// A fresh directory under /tmp, removed with everything in it when the object dies.
class TempTree {
 public:
  TempTree() {
    std::string tmpl = "/tmp/spine-checks-XXXXXX";
    const char* made = mkdtemp(tmpl.data());
    REQUIRE(made != nullptr);
    root_ = made;
  }
  TempTree(const TempTree&) = delete;
  TempTree& operator=(const TempTree&) = delete;
  ~TempTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  const fs::path& root() const { return root_; }

  // Writes `content` to `relative` under the root, creating parent directories.
  void Write(const std::string& relative, const std::string& content) const {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    out << content;
    REQUIRE(out.good());
  }

 private:
  fs::path root_;
};

using spine::testing::ShellQuote;
using RunResult = spine::testing::ShellResult;

// Runs scripts/<script> on `dir` and returns its exit status and combined output.
RunResult RunCheck(const std::string& script, const fs::path& dir) {
  return spine::testing::RunShell(ShellQuote(std::string(SPINE_SOURCE_DIR) + "/scripts/" + script) +
                                  " " + ShellQuote(dir.string()));
}

// Plants `content` in a tree that is otherwise clean and runs check-secrets on it.
RunResult ScanPlanted(const std::string& file, const std::string& content) {
  TempTree tree;
  tree.Write("README.md", "# a clean project\n");
  tree.Write(file, content);
  return RunCheck("check-secrets", tree.root());
}

// The pieces secrets are built from; none of them is a pattern on its own.
std::string Dashes() { return std::string(5, '-'); }

std::string Pem(const std::string& kind) {
  const std::string dashes = Dashes();
  const std::string label = kind.empty() ? "" : kind + " ";
  return dashes + "BEGIN " + label + "PRIV" + "ATE KEY" + dashes +
         "\nMIIEvQIBADANBgkqhkiG9w0BAQEF\n" + dashes + "END " + label + "PRIV" + "ATE KEY" +
         dashes + "\n";
}

}  // namespace

// ---------------------------------------------------------------------------------------
// check-secrets

TEST_CASE("secret scan passes a clean tree") {
  TempTree tree;
  tree.Write("README.md", "# nothing to see\n");
  tree.Write("src/main.cc", "int main() { return 0; }\n");
  const RunResult r = RunCheck("check-secrets", tree.root());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.output.find("check-secrets: clean") != std::string::npos);
}

TEST_CASE("secret scan fails on a planted sk- API key") {
  const std::string key = std::string("s") + "k-" + "proj4Zq8Lm2Xv9Tb6Nw1Rk3Jh7Yc5";
  const RunResult r = ScanPlanted("src/client.cc", "auto key = \"" + key + "\";\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("src/client.cc:1") != std::string::npos);
  SECTION("and never prints the key itself") { REQUIRE(r.output.find(key) == std::string::npos); }
}

TEST_CASE("secret scan does not mistake words ending in sk- for keys") {
  const std::string text = std::string("ta") + "sk-" + "queue-drains-within-two-seconds\n";
  const RunResult r = ScanPlanted("docs/notes.md", text);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("secret scan fails on the default jwtSecret") {
  const RunResult r =
      ScanPlanted("config/app.env", std::string("jwt") + "Secret" + "=change" + "me\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("config/app.env:1") != std::string::npos);
}

TEST_CASE("secret scan fails on an OPENAI_API_KEY with a value") {
  const std::string var = std::string("OPENAI") + "_API_KEY";
  const RunResult r = ScanPlanted("deploy/app.env", "# models\n" + var + "=abc123def456\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("deploy/app.env:2") != std::string::npos);
}

TEST_CASE("secret scan fails on an OPENAI_API_KEY set in YAML or with spaces") {
  const std::string var = std::string("OPENAI") + "_API_KEY";
  RunResult r =
      ScanPlanted("deploy/compose.yml", "services:\n  llm:\n    " + var + ": abc123def\n");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  r = ScanPlanted("deploy/app.env", var + " = abc123def\n");
  INFO(r.output);
  CHECK(r.exit_code == 1);
}

TEST_CASE("secret scan passes an OPENAI_API_KEY documented empty") {
  const std::string var = std::string("OPENAI") + "_API_KEY";
  const RunResult r =
      ScanPlanted(".env.example", "# empty unless the openai backend is used\n" + var + "=\n" +
                                      var + "=   \n" + var + "=${" + var + "}\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("secret scan fails on AWS access and secret keys with values") {
  const std::string aws = std::string("AWS") + "_";
  const auto [name, line] = GENERATE_COPY(table<std::string, std::string>({
      {"ACCESS_KEY", aws + "ACCESS" + "_KEY=AKIAIOSFODNN7EXAMPLE"},
      {"SECRET_KEY", aws + "SECRET" + "_KEY=wJalrXUtnFEMIK7MDENG"},
      {"ACCESS_KEY_ID", aws + "ACCESS" + "_KEY_ID=AKIAIOSFODNN7EXAMPLE"},
      {"SECRET_ACCESS_KEY", aws + "SECRET" + "_ACCESS_KEY=\"wJalrXUtnFEMIK7MDENG\""},
      {"prefixed ACCESS_KEY_ID", aws + "PROD_ACCESS" + "_KEY_ID=AKIAIOSFODNN7EXAMPLE"},
      {"prefixed SECRET_ACCESS_KEY", aws + "BACKUP_SECRET" + "_ACCESS_KEY=wJalrXUtnFEMIK7"},
      {"credentials-file form", "aws_secret_access" + std::string("_key = wJalrXUtnFEMIK7")},
  }));
  INFO(name);
  const RunResult r = ScanPlanted("ci/env.sh", "export X=1\n" + line + "\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("ci/env.sh:2") != std::string::npos);
}

TEST_CASE("secret scan passes AWS key variables left empty") {
  const std::string aws = std::string("AWS") + "_";
  const RunResult r = ScanPlanted(
      ".env.example", aws + "ACCESS" + "_KEY_ID=\n" + aws + "SECRET" + "_ACCESS_KEY=\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("secret scan fails on a planted PEM private key") {
  const std::string kind = GENERATE(as<std::string>{}, "", "RSA", "EC", "OPENSSH", "ENCRYPTED");
  INFO("kind: " << kind);
  const RunResult r = ScanPlanted("keys/server.pem", Pem(kind));
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("keys/server.pem:1") != std::string::npos);
}

TEST_CASE("secret scan passes a PEM public key") {
  const std::string dashes = Dashes();
  const RunResult r =
      ScanPlanted("keys/jwt_public.pem", dashes + "BEGIN PUBLIC KEY" + dashes + "\nMFkwEwYHKoZI\n" +
                                             dashes + "END PUBLIC KEY" + dashes + "\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("secret scan of a plain directory skips build and .git") {
  TempTree tree;
  tree.Write("README.md", "# clean\n");
  tree.Write("build/dev/key.pem", Pem("RSA"));
  tree.Write(".git/objects/key.pem", Pem("RSA"));
  tree.Write(".spine/key.pem", Pem("RSA"));
  const RunResult r = RunCheck("check-secrets", tree.root());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("secret scan passes the repository itself", "[repo]") {
  const RunResult r = RunCheck("check-secrets", SPINE_SOURCE_DIR);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// ---------------------------------------------------------------------------------------
// check-layers

namespace {

// A small, layered tree that satisfies every rule; each test adds one file to it.
void WriteCleanLayout(const TempTree& tree) {
  tree.Write("libs/core/status.h", "#pragma once\n#include <string>\n");
  tree.Write("libs/rpc/server.cc", "#include \"libs/core/status.h\"\n");
  tree.Write("services/llm/runner.cc",
             "#include \"services/llm/runner.h\"\n#include \"libs/core/status.h\"\n"
             "#include \"spine/v1/storage.grpc.pb.h\"\n");
  tree.Write("services/llm/runner.h", "#pragma once\n");
  tree.Write("services/storage/sqlite_adapter.cc",
             "#include <sqlite3.h>\n#include \"services/storage/sqlite_adapter.h\"\n"
             "// SQLite in WAL mode\n");
  tree.Write("services/storage/sqlite_adapter.h", "#pragma once\nstruct sqlite3;\n");
  tree.Write("tests/unit/services/storage/adapter_test.cc",
             "#include <sqlite3.h>\n#include \"services/storage/sqlite_adapter.h\"\n");
  tree.Write("tests/unit/services/llm/runner_test.cc", "#include \"services/llm/runner.h\"\n");
}

RunResult LayersWith(const std::string& file, const std::string& content) {
  TempTree tree;
  WriteCleanLayout(tree);
  tree.Write(file, content);
  return RunCheck("check-layers", tree.root());
}

}  // namespace

TEST_CASE("layer check passes a clean tree") {
  TempTree tree;
  WriteCleanLayout(tree);
  const RunResult r = RunCheck("check-layers", tree.root());
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.output.find("check-layers: clean") != std::string::npos);
}

TEST_CASE("layer check fails when a service includes another service's header") {
  const std::string include =
      GENERATE(as<std::string>{}, "#include \"services/storage/sqlite_adapter.h\"",
               "#include <services/storage/db.h>", "#include \"../storage/db.h\"");
  INFO(include);
  const RunResult r = LayersWith("services/gateway/router.cc", "// router\n" + include + "\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("services/gateway/router.cc:2") != std::string::npos);
}

TEST_CASE("layer check fails when libs includes a service") {
  const std::string include = GENERATE(as<std::string>{}, "#include \"services/tasks/bus.h\"",
                                       "#include \"../../services/tasks/bus.h\"");
  INFO(include);
  const RunResult r = LayersWith("libs/bus/client.cc", include + "\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("libs/bus/client.cc:1") != std::string::npos);
}

TEST_CASE("layer check fails when services/llm names SQLite") {
  const RunResult r = LayersWith("services/llm/audit.cc", "// keeps prompts in a Sqlite table\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("services/llm/audit.cc:1") != std::string::npos);
}

TEST_CASE("layer check fails when libs names SQLite") {
  const RunResult r = LayersWith("libs/core/cache.h", "#pragma once\nstruct sqlite3;\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("libs/core/cache.h:2") != std::string::npos);
}

TEST_CASE("layer check fails when a test outside storage includes sqlite3.h") {
  const RunResult r = LayersWith("tests/integration/peek_test.cc", "#include <sqlite3.h>\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.output.find("tests/integration/peek_test.cc:1") != std::string::npos);
}

TEST_CASE("layer check allows SQLite inside services/storage") {
  const RunResult r =
      LayersWith("services/storage/wal.cc", "#include <sqlite3.h>\n// SQLITE_OPEN_READWRITE\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

TEST_CASE("layer check passes the repository itself", "[repo]") {
  const RunResult r = RunCheck("check-layers", SPINE_SOURCE_DIR);
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// ---------------------------------------------------------------------------------------
// check-links

TEST_CASE("link check passes links that resolve inside the tree") {
  TempTree tree;
  tree.Write("README.md", "# x\nSee [the docs](docs/guide.md#setup) and [code](src/).\n");
  tree.Write("docs/guide.md", "# Guide\n\n## Setup\n\nBack to [the readme](../README.md).\n");
  tree.Write("src/main.cc", "int main() {}\n");
  const RunResult result = RunCheck("check-links", tree.root());
  INFO(result.output);
  CHECK(result.exit_code == 0);
}

TEST_CASE("link check fails on a link that leaves the repository or points nowhere") {
  TempTree tree;
  tree.Write("docs/guide.md", "# Guide\n\nSee [design](../../shared/DESIGN.md).\n");
  RunResult result = RunCheck("check-links", tree.root());
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find("shared/DESIGN.md") != std::string::npos);

  tree.Write("docs/guide.md", "# Guide\n\nSee [missing](missing.md) and [anchor](#nope).\n");
  result = RunCheck("check-links", tree.root());
  INFO(result.output);
  CHECK(result.exit_code != 0);
  CHECK(result.output.find("missing.md") != std::string::npos);
}

TEST_CASE("link check passes the repository itself", "[repo]") {
  const RunResult result = RunCheck("check-links", fs::path(SPINE_SOURCE_DIR));
  INFO(result.output);
  CHECK(result.exit_code == 0);
}

// ---------------------------------------------------------------------------------------
// deploy/local/spine-down

namespace {

// Starts a copy of sleep(1) named `name` from `dir`, as spine-up starts a service binary, and
// waits until the exec has happened.
pid_t StartStandIn(const fs::path& dir, const std::string& name) {
  const fs::path binary = dir / name;
  fs::copy_file("/bin/sleep", binary, fs::copy_options::overwrite_existing);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl(binary.c_str(), name.c_str(), "600", static_cast<char*>(nullptr));
    _exit(127);
  }
  REQUIRE(spine::testing::PollUntil([&] {
    std::error_code ec;
    return fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).filename() == name;
  }));
  return pid;
}

// True once `pid` (our child) has exited within `timeout`; reaps it.
bool ExitsWithin(pid_t pid, absl::Duration timeout) {
  return spine::testing::PollUntil([&] { return waitpid(pid, nullptr, WNOHANG) == pid; }, timeout,
                                   absl::Milliseconds(100));
}

void Stop(pid_t pid) {
  if (kill(pid, SIGKILL) == 0) waitpid(pid, nullptr, 0);
}

RunResult RunSpineDown(const fs::path& data_dir) {
  return spine::testing::RunShell(
      "SPINE_DATA_DIR=" + ShellQuote(data_dir.string()) + " " +
      ShellQuote(std::string(SPINE_SOURCE_DIR) + "/deploy/local/spine-down"));
}

}  // namespace

TEST_CASE("spine-down stops a service whose binary was rebuilt while it ran") {
  TempTree tree;
  const pid_t pid = StartStandIn(tree.root(), "spine-storage");
  // A rebuild replaces the file: the running image is then "<path> (deleted)".
  fs::remove(tree.root() / "spine-storage");
  fs::copy_file("/bin/sleep", tree.root() / "spine-storage");
  tree.Write("run/storage.pid", std::to_string(pid) + "\n");
  const RunResult result = RunSpineDown(tree.root());
  INFO(result.output);
  const bool stopped = ExitsWithin(pid, spine::testing::kPollTimeout);
  if (!stopped) Stop(pid);
  CHECK(stopped);
  CHECK(result.exit_code == 0);
  CHECK(result.output.find("stopped storage") != std::string::npos);
  CHECK(!fs::exists(tree.root() / "run/storage.pid"));
}

TEST_CASE("spine-down leaves alone a pid that now belongs to another program") {
  TempTree tree;
  const pid_t pid = StartStandIn(tree.root(), "not-spine");
  tree.Write("run/storage.pid", std::to_string(pid) + "\n");
  const RunResult result = RunSpineDown(tree.root());
  INFO(result.output);
  CHECK(!ExitsWithin(pid, absl::Milliseconds(300)));
  Stop(pid);
  CHECK(result.exit_code == 0);
  CHECK(!fs::exists(tree.root() / "run/storage.pid"));
}

// ---------------------------------------------------------------------------------------
// check-sanitizer-reports (CI fails on any report a sanitizer build wrote)

TEST_CASE("check-sanitizer-reports passes an empty report directory") {
  TempTree tree;
  fs::create_directories(tree.root() / "reports");
  // An empty file is a process that opened its log and reported nothing.
  tree.Write("reports/asan.123", "");
  const RunResult r = RunCheck("check-sanitizer-reports", tree.root() / "reports");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("no sanitizer reports") != std::string::npos);
}

TEST_CASE("check-sanitizer-reports fails on a report and prints it") {
  TempTree tree;
  tree.Write("reports/asan.4242",
             "==4242==ERROR: LeakSanitizer: detected memory leaks\n"
             "Direct leak of 24 byte(s) in 1 object(s) allocated from:\n");
  tree.Write("reports/ubsan.7", "runtime error: signed integer overflow\n");
  const RunResult r = RunCheck("check-sanitizer-reports", tree.root() / "reports");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("LeakSanitizer: detected memory leaks") != std::string::npos);
  CHECK(r.output.find("signed integer overflow") != std::string::npos);
  CHECK(r.output.find("2 sanitizer report(s)") != std::string::npos);
}

TEST_CASE("check-sanitizer-reports refuses a directory that is not there") {
  TempTree tree;
  const RunResult r = RunCheck("check-sanitizer-reports", tree.root() / "missing");
  INFO(r.output);
  CHECK(r.exit_code == 2);
}
