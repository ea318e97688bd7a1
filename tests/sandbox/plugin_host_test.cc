// PluginHost with real sandboxed node workers: the example plugins answer, and the hostile test
// plugin (tests/sandbox/plugins/hostile) fails every attack with the right error while
// hello-world keeps answering; no worker is ever left as a zombie.
#include "services/plugins/host/plugin_host.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/core/clock.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"

namespace spine::plugins {
namespace {

using Json = nlohmann::json;

std::string ReasonOf(const absl::Status& status) {
  auto info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

std::unique_ptr<PluginHost> MakeHost(const std::string& data_dir, HostOptions options = {}) {
  ManifestBounds bounds;
  bounds.data_dir = data_dir;
  std::vector<LoadedPlugin> plugins;
  for (const std::string& folder :
       {std::string(SPINE_SOURCE_DIR "/plugins/hello-world"),
        std::string(SPINE_SOURCE_DIR "/plugins/word-count"),
        std::string(SPINE_SOURCE_DIR "/plugins/uppercase"),
        std::string(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile")}) {
    absl::StatusOr<LoadedPlugin> plugin = LoadPlugin(folder, bounds);
    INFO(folder << ": " << plugin.status());
    REQUIRE(plugin.ok());
    plugins.push_back(*std::move(plugin));
  }
  absl::StatusOr<std::unique_ptr<PluginHost>> host =
      PluginHost::Create(std::move(plugins), std::move(options), RealClock::Instance());
  REQUIRE(host.ok());
  return *std::move(host);
}

Json Output(const InvokeResult& result) {
  INFO(result.output.status());
  REQUIRE(result.output.ok());
  return Json::parse(*result.output);
}

InvokeResult Attack(PluginHost& host, const Json& input,
                    absl::Duration timeout = absl::Seconds(10)) {
  return host.InvokeAndWait("hostile", input.dump(), timeout);
}

void HelloWorldStillAnswers(PluginHost& host) {
  const InvokeResult hello =
      host.InvokeAndWait("hello-world", R"({"name":"Ada"})", absl::Seconds(10));
  CHECK(Output(hello) == Json{{"greeting", "Hello, Ada!"}});
}

// Live children of this process (the workers), from /proc.
std::vector<pid_t> ChildPids() {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  const std::string me = absl::StrCat(getpid());
  while (dirent* entry = readdir(proc)) {
    std::ifstream in(absl::StrCat("/proc/", entry->d_name, "/stat"));
    if (!in) continue;
    std::stringstream contents;
    contents << in.rdbuf();
    const std::string stat = contents.str();
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    const std::string rest = stat.substr(close + 4);
    if (stat[close + 2] != 'Z' && rest.substr(0, rest.find(' ')) == me) {
      pids.push_back(static_cast<pid_t>(std::atoi(entry->d_name)));
    }
  }
  closedir(proc);
  return pids;
}

// Zombie children of this process, from /proc.
int ZombieChildren() {
  int zombies = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return -1;
  const std::string me = absl::StrCat(getpid());
  while (dirent* entry = readdir(proc)) {
    std::ifstream in(absl::StrCat("/proc/", entry->d_name, "/stat"));
    if (!in) continue;
    std::stringstream contents;
    contents << in.rdbuf();
    const std::string stat = contents.str();
    const size_t close = stat.rfind(')');
    if (close == std::string::npos || close + 4 >= stat.size()) continue;
    // ") S ppid ..."
    const char state = stat[close + 2];
    const std::string rest = stat.substr(close + 4);
    const std::string ppid = rest.substr(0, rest.find(' '));
    if (state == 'Z' && ppid == me) ++zombies;
  }
  closedir(proc);
  return zombies;
}

}  // namespace

TEST_CASE("the example plugins answer through warm sandboxed workers") {
  testing::TempDir dir;
  auto host = MakeHost(dir.path());
  InvocationStats first;
  const InvokeResult hello =
      host->InvokeAndWait("hello-world", R"({"name":"Ada"})", absl::Seconds(10), &first);
  CHECK(Output(hello) == Json{{"greeting", "Hello, Ada!"}});
  CHECK(first.cold_start);
  InvocationStats second;
  const InvokeResult again =
      host->InvokeAndWait("hello-world", R"({"name":"Bob"})", absl::Seconds(10), &second);
  CHECK(Output(again) == Json{{"greeting", "Hello, Bob!"}});
  CHECK_FALSE(second.cold_start);

  const InvokeResult counted =
      host->InvokeAndWait("word-count", R"({"text":"one two  three\nfour\n"})", absl::Seconds(10));
  CHECK(Output(counted) == Json{{"words", 4}, {"characters", 20}, {"lines", 2}});
  const InvokeResult upper =
      host->InvokeAndWait("uppercase", R"({"text":"Shout ß"})", absl::Seconds(10));
  CHECK(Output(upper) == Json{{"text", "SHOUT SS"}});
  const InvokeResult bad = host->InvokeAndWait("uppercase", R"({"text":7})", absl::Seconds(10));
  CHECK(bad.output.status().code() == absl::StatusCode::kInternal);
  CHECK(ReasonOf(bad.output.status()) == "PLUGIN_ERROR");

  const InvokeResult unknown = host->InvokeAndWait("nope", "{}", absl::Seconds(1));
  CHECK(unknown.output.status().code() == absl::StatusCode::kNotFound);
  CHECK(ReasonOf(unknown.output.status()) == "PLUGIN_NOT_FOUND");
}

TEST_CASE("console output becomes the invocation's logs, not its output") {
  testing::TempDir dir;
  auto host = MakeHost(dir.path());
  const InvokeResult echoed = Attack(*host, {{"attack", "echo"}, {"x", 1}});
  CHECK(Output(echoed)["x"] == 1);
}

TEST_CASE("hostile file, network and process attacks fail and hello-world carries on") {
  testing::TempDir dir;
  auto host = MakeHost(dir.path());
  const std::string secret = dir.WriteFile("jwt_private.pem", "secret key");
  for (const std::string& path : {std::string("/etc/passwd"), std::string("/etc/shadow"),
                                  std::string("/proc/1/root/etc/passwd"), secret,
                                  std::string(SPINE_SOURCE_DIR "/plugins/hello-world/index.js")}) {
    INFO(path);
    const Json read = Output(Attack(*host, {{"attack", "readFile"}, {"path", path}}));
    CHECK(read["result"] != "ok");
  }
  const Json environ =
      Output(Attack(*host, {{"attack", "readFile"}, {"path", "/proc/self/environ"}}));
  CHECK_FALSE(absl::StrContains(environ.dump(), "SPINE_"));
  const Json write =
      Output(Attack(*host, {{"attack", "writeFile"}, {"path", dir.path() + "/planted"}}));
  CHECK(write["result"] != "ok");
  CHECK(access((dir.path() + "/planted").c_str(), F_OK) != 0);

  const int port = testing::FreeLoopbackPort();
  CHECK(Output(Attack(*host, {{"attack", "connect"}, {"port", port}}))["result"] != "connected");
  CHECK(Output(Attack(*host, {{"attack", "listen"}}))["result"] != "listening");
  CHECK(Output(Attack(*host, {{"attack", "spawn"}}))["result"] != "ok");
  const Json bomb = Output(Attack(*host, {{"attack", "forkBomb"}}));
  CHECK(bomb["started"].get<int>() < 200);
  CHECK(Output(Attack(*host, {{"attack", "signal"}, {"pid", getpid()}}))["result"] != "ok");
  // Other workers (hello-world's, warm from the check above) are out of reach too.
  HelloWorldStillAnswers(*host);
  const std::vector<pid_t> workers = ChildPids();
  CHECK(workers.size() >= 2);  // hello-world's and hostile's own
  for (const pid_t pid : workers) {
    CHECK(Output(Attack(*host, {{"attack", "signal"}, {"pid", pid}}))["result"] != "ok");
  }
  CHECK_FALSE(absl::StrContains(Output(Attack(*host, {{"attack", "env"}})).dump(), "SPINE_"));
  HelloWorldStillAnswers(*host);
}

TEST_CASE("a plugin writes only in its data dir, and links planted there lead nowhere") {
  testing::TempDir dir;
  // The sandbox's uid must be able to walk to its data dir, as with a real SPINE_DATA_DIR.
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  auto host = MakeHost(dir.path() + "/data/plugins");
  const std::string own = dir.path() + "/data/plugins/hostile";
  const std::string secret = dir.WriteFile("secret", "host secret", 0644);

  CHECK(Output(Attack(*host, {{"attack", "writeFile"}, {"path", own + "/note"}}))["result"] ==
        "ok");
  // A path outside that nobody else uses (a fixed "/tmp/x" was CI's own checkout folder).
  const std::string outside = absl::StrCat("/tmp/spine-sandbox-escape-", getpid());
  for (const std::string& path : {dir.path() + "/planted", own + "/../planted",
                                  dir.path() + "/data/plugins/hello-world", outside}) {
    INFO(path);
    CHECK(Output(Attack(*host, {{"attack", "writeFile"}, {"path", path}}))["result"] != "ok");
    CHECK(access(path.c_str(), F_OK) != 0);
  }
  for (const std::string& target : {std::string("/etc/passwd"), secret}) {
    INFO(target);
    const Json through_symlink =
        Output(Attack(*host, {{"attack", "symlinkRead"},
                              {"target", target},
                              {"link", own + "/sym" + std::to_string(target.size())}}));
    CHECK(through_symlink["result"] != "ok");
    const Json hard =
        Output(Attack(*host, {{"attack", "hardLink"},
                              {"target", target},
                              {"link", own + "/hard" + std::to_string(target.size())}}));
    CHECK(hard["result"] != "ok");
    CHECK(Output(Attack(*host, {{"attack", "readFile"},
                                {"path", own + "/../../../secret"}}))["result"] != "ok");
  }
  // A symlink the host itself left in the data dir is no way out either.
  REQUIRE(symlink(secret.c_str(), (own + "/host-link").c_str()) == 0);
  CHECK(Output(Attack(*host, {{"attack", "readFile"}, {"path", own + "/host-link"}}))["result"] !=
        "ok");
  HelloWorldStillAnswers(*host);
}

TEST_CASE("UNIX sockets, abstract sockets and outside addresses are unreachable") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  auto host = MakeHost(dir.path() + "/data/plugins");
  const std::string path = dir.path() + "/host.sock";
  const std::string abstract = "spine-test-" + std::to_string(getpid());
  std::vector<int> listeners;
  for (const bool is_abstract : {false, true}) {
    const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    socklen_t len = sizeof(addr);
    if (is_abstract) {
      std::memcpy(addr.sun_path + 1, abstract.data(), abstract.size());
      len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + abstract.size());
    } else {
      std::memcpy(addr.sun_path, path.data(), path.size());
    }
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(listen(fd, 4) == 0);
    listeners.push_back(fd);
  }
  REQUIRE(chmod(path.c_str(), 0777) == 0);
  CHECK(Output(Attack(*host, {{"attack", "connectPath"}, {"path", path}}))["result"] !=
        "connected");
  CHECK(Output(Attack(*host, {{"attack", "connectPath"},
                              {"path", std::string(1, '\0') + abstract}}))["result"] !=
        "connected");
  CHECK(
      Output(Attack(*host, {{"attack", "connect"}, {"host", "1.1.1.1"}, {"port", 80}}))["result"] !=
      "connected");
  for (const int fd : listeners) close(fd);
  HelloWorldStillAnswers(*host);
}

TEST_CASE("crashes, hangs, floods and garbage end as the right errors and are contained") {
  testing::TempDir dir;
  HostOptions options;
  options.breaker.crashes = 1000;  // every case must reach the plugin
  auto host = MakeHost(dir.path(), options);
  struct Case {
    const char* attack;
    absl::StatusCode code;
    const char* reason;
  };
  // Only "spin" and "ignoreTerm" end at their deadline, and how soon after it they are stopped
  // (even one that ignores SIGTERM) is part of the containment checked. The others end on a
  // limit of the sandbox or the host long before theirs, which is generous so that a loaded
  // machine cannot turn them into timeouts; their reason shows the limit ended them.
  constexpr absl::Duration kLimitDeadline = absl::Seconds(30);
  for (const Case c : {Case{"exit", absl::StatusCode::kInternal, "PLUGIN_CRASHED"},
                       Case{"throws", absl::StatusCode::kInternal, "PLUGIN_ERROR"},
                       Case{"garbage", absl::StatusCode::kInternal, "PLUGIN_BAD_OUTPUT"},
                       Case{"flood", absl::StatusCode::kInternal, "PLUGIN_BAD_OUTPUT"},
                       Case{"hugeOutput", absl::StatusCode::kInternal, "PLUGIN_BAD_OUTPUT"},
                       Case{"closeStdout", absl::StatusCode::kInternal, "PLUGIN_CRASHED"},
                       Case{"memoryBomb", absl::StatusCode::kInternal, "PLUGIN_CRASHED"},
                       Case{"spin", absl::StatusCode::kDeadlineExceeded, ""},
                       Case{"ignoreTerm", absl::StatusCode::kDeadlineExceeded, ""}}) {
    INFO(c.attack);
    const bool ends_at_deadline = c.code == absl::StatusCode::kDeadlineExceeded;
    const absl::Time start = absl::Now();
    const InvokeResult result =
        Attack(*host, {{"attack", c.attack}}, ends_at_deadline ? absl::Seconds(2) : kLimitDeadline);
    INFO(result.output.status());
    CHECK(result.output.status().code() == c.code);
    CHECK(ReasonOf(result.output.status()) == c.reason);
    if (ends_at_deadline) CHECK(absl::Now() - start < absl::Seconds(8));
    HelloWorldStillAnswers(*host);
  }
  // Memory outside V8's heap meets the kernel's limit: the allocation fails inside the plugin
  // (an error it may catch) or node dies of it; either way the host carries on.
  const InvokeResult buffers = Attack(*host, {{"attack", "bufferBomb"}}, absl::Seconds(10));
  INFO(buffers.output.status());
  CHECK(buffers.output.status().code() == absl::StatusCode::kInternal);
  CHECK((ReasonOf(buffers.output.status()) == "PLUGIN_ERROR" ||
         ReasonOf(buffers.output.status()) == "PLUGIN_CRASHED"));
  HelloWorldStillAnswers(*host);
  CHECK(ZombieChildren() == 0);
}

TEST_CASE("a worker that closes its stderr costs the host no CPU while it waits") {
  testing::TempDir dir;
  auto host = MakeHost(dir.path());
  HelloWorldStillAnswers(*host);  // start-up costs are not what this measures
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const Json waited = Output(Attack(*host, {{"attack", "closeStderrThenWait"}, {"ms", 1000}}));
  CHECK(waited["result"] == "waited");
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  const double cpu = seconds(after.ru_utime) - seconds(before.ru_utime) + seconds(after.ru_stime) -
                     seconds(before.ru_stime);
  CHECK(cpu < 0.3);  // a host polling a closed pipe would burn the whole second
}

namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

// A copy of the hostile plugin in `dir`/`name` with `manifest` as its plugin.json (its "name"
// must be `name`) and, where built, the compiled addon beside it. Returns the folder.
std::string HostileCopy(const testing::TempDir& dir, const std::string& name,
                        const std::string& manifest) {
  std::string folder = dir.path() + "/" + name;
  REQUIRE(mkdir(folder.c_str(), 0755) == 0);
  dir.WriteFile(name + "/plugin.json", manifest, 0644);
  dir.WriteFile(name + "/index.js",
                ReadAll(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile/index.js"), 0644);
#ifdef SPINE_HOSTILE_ADDON
  const std::string addon = ReadAll(SPINE_HOSTILE_ADDON);
  REQUIRE(!addon.empty());
  dir.WriteFile(name + "/addon.node", addon, 0644);
#endif
  return folder;
}

std::string HostileManifest(const std::string& name, const std::string& permissions) {
  return absl::StrCat(R"({"name":")", name, R"(","version":"0.0.1","runtime":"node",)",
                      R"("entry":"index.js","permissions":)", permissions, "}");
}

std::unique_ptr<PluginHost> HostOf(const std::vector<std::string>& folders,
                                   const ManifestBounds& bounds, HostOptions options = {}) {
  std::vector<LoadedPlugin> plugins;
  for (const std::string& folder : folders) {
    absl::StatusOr<LoadedPlugin> plugin = LoadPlugin(folder, bounds);
    INFO(folder << ": " << plugin.status());
    REQUIRE(plugin.ok());
    plugins.push_back(*std::move(plugin));
  }
  absl::StatusOr<std::unique_ptr<PluginHost>> host =
      PluginHost::Create(std::move(plugins), std::move(options), RealClock::Instance());
  REQUIRE(host.ok());
  return *std::move(host);
}

// A loopback TCP listener on an ephemeral port (non-blocking: Accepted() tells at once).
class Listener {
 public:
  Listener() : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    REQUIRE(bind(fd_, sa, sizeof(addr)) == 0);
    REQUIRE(listen(fd_, 8) == 0);
    REQUIRE(getsockname(fd_, sa, &len) == 0);
    port_ = ntohs(addr.sin_port);
  }
  ~Listener() { close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }
  bool Accepted() const {
    const int fd = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) close(fd);
    return fd >= 0;
  }

 private:
  int fd_;
  int port_ = 0;
};

}  // namespace

#ifdef SPINE_HOSTILE_ADDON
TEST_CASE("native code loaded by a plugin meets the seccomp filter") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string folder = HostileCopy(
      dir, "hostile", ReadAll(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile/plugin.json"));
  ManifestBounds bounds;
  bounds.data_dir = dir.path() + "/data";
  HostOptions options;
  options.breaker.crashes = 1000;
  auto host = HostOf({folder}, bounds, options);

  for (const char* call : {"ptrace", "process_vm_readv", "io_uring_setup", "unshare", "mount",
                           "raise_rlimit", "bpf"}) {
    INFO(call);
    const Json result = Output(Attack(*host, {{"attack", "native"}, {"call", call}}));
    CHECK(result["result"] == "EPERM");
  }
  const InvokeResult killed = Attack(*host, {{"attack", "native"}, {"call", "init_module"}});
  CHECK(killed.output.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK(ReasonOf(killed.output.status()) == "SANDBOX_VIOLATION");
  // The next invocation gets a fresh worker.
  CHECK(Output(Attack(*host, {{"attack", "echo"}, {"x", 2}}))["x"] == 2);
}

TEST_CASE("a plugin with a declared port reaches no other port with MPTCP or SCTP") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  // The issue's manifest: any declared port let every inet stream socket through seccomp.
  const std::string folder = HostileCopy(
      dir, "hostile",
      HostileManifest("hostile", R"({"network":{"connectPorts":[443]},"limits":{"memoryMB":64}})"));
  auto host = HostOf({folder}, ManifestBounds{});
  Listener target;  // stands for the gateway or spine-storage's gRPC port
  for (const char* call : {"mptcp", "sctp", "fastopen"}) {
    INFO(call);
    const Json result =
        Output(Attack(*host, {{"attack", "native"}, {"call", call}, {"port", target.port()}}));
    CHECK(result["result"] == "EPERM");
  }
  CHECK(Output(Attack(
            *host, {{"attack", "native"}, {"call", "tcp"}, {"port", target.port()}}))["result"] ==
        "EACCES");  // plain TCP meets Landlock's port rule
  CHECK(Output(Attack(*host, {{"attack", "native"}, {"call", "listen"}}))["result"] == "EPERM");
  CHECK_FALSE(target.Accepted());
}

TEST_CASE("a plugin cannot load a native object it wrote into its data dir") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  auto host = MakeHost(dir.path() + "/data/plugins");
  Listener target;
  // Pure JavaScript: the object arrives as data, is written where the plugin may write, and
  // process.dlopen()ed from there.
  const std::string object = ReadAll(SPINE_HOSTILE_ADDON);
  REQUIRE(!object.empty());
  const Json result = Output(Attack(*host, {{"attack", "dlopenWritten"},
                                            {"object", absl::Base64Escape(object)},
                                            {"path", dir.path() + "/data/plugins/hostile/x.node"},
                                            {"call", "mptcp"},
                                            {"port", target.port()}}));
  INFO(result.dump());
  CHECK(result["result"] == "refused");
  CHECK_FALSE(target.Accepted());
  HelloWorldStillAnswers(*host);
}
#endif

TEST_CASE("a plugin folder with a hard link or a foreign owner is refused, the others load") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string secret = dir.WriteFile("secret", "host secret", 0644);  // world-readable
  const std::string plugins = dir.path() + "/plugins";
  REQUIRE(mkdir(plugins.c_str(), 0755) == 0);
  const std::string manifest =
      ReadAll(SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile/plugin.json");
  // hostile: a hard link to the secret; hello-world beside it loads as ever.
  const std::string linked = HostileCopy(dir, "plugins/hostile", manifest);
  REQUIRE(link(secret.c_str(), (linked + "/linked.txt").c_str()) == 0);
  REQUIRE(symlink(SPINE_SOURCE_DIR "/plugins/hello-world", (plugins + "/hello-world").c_str()) ==
          0);
  ManifestBounds bounds;
  bounds.data_dir = dir.path() + "/data";
  absl::StatusOr<LoadedPlugins> loaded = LoadPluginsDir(plugins, bounds);
  REQUIRE(loaded.ok());
  std::vector<std::string> names;
  for (const LoadedPlugin& p : loaded->plugins) names.push_back(p.manifest.name());
  CHECK(names == std::vector<std::string>{"hello-world"});
  REQUIRE(loaded->refused.size() <= 1);
  if (loaded->refused.size() == 1) {
    CHECK(loaded->refused[0].name == "hostile");
    INFO(loaded->refused[0].why);
    CHECK(absl::StrContains(loaded->refused[0].why.message(), "'linked.txt' has 2 hard links"));
  }
  // Had it loaded, this is what it would read.
  for (LoadedPlugin& p : loaded->plugins) {
    if (p.manifest.name() != "hostile") continue;
    std::vector<LoadedPlugin> one;
    one.push_back(std::move(p));
    auto host = PluginHost::Create(std::move(one), HostOptions{}, RealClock::Instance());
    REQUIRE(host.ok());
    CHECK(Output(Attack(**host, {{"attack", "readFile"},
                                 {"path", linked + "/linked.txt"}}))["result"] != "ok");
  }

  // A file owned by someone else (here: the sandbox's own uid) is refused as well.
  REQUIRE(unlink((linked + "/linked.txt").c_str()) == 0);
  const std::string foreign = dir.WriteFile("plugins/hostile/foreign.txt", "x", 0644);
  REQUIRE(chown(foreign.c_str(), 12345, 12345) == 0);
  const absl::StatusOr<LoadedPlugin> owned = LoadPlugin(linked, bounds);
  CHECK(owned.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(owned.status().message(), "'foreign.txt' is owned by uid 12345"));
  REQUIRE(unlink(foreign.c_str()) == 0);
  CHECK(LoadPlugin(linked, bounds).ok());
}

TEST_CASE("a plugin that fills its data dir past the quota is stopped with a clear error") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  ManifestBounds bounds;
  bounds.data_dir = dir.path() + "/data/plugins";
  bounds.data_quota_bytes = uint64_t{1} << 20;
  auto host = HostOf(
      {SPINE_SOURCE_DIR "/plugins/hello-world", SPINE_SOURCE_DIR "/tests/sandbox/plugins/hostile"},
      bounds);
  const std::string own = bounds.data_dir + "/hostile";
  const std::vector<std::string> own_dirs = {own};

  // One file: it cannot grow past what is left of the quota.
  const Json appended = Output(Attack(
      *host, {{"attack", "append"}, {"path", own + "/one"}, {"chunkKB", 64}, {"totalKB", 4096}}));
  CHECK(appended["result"] == "EFBIG");
  CHECK(DataDirUsage(own_dirs, UINT64_MAX) <= bounds.data_quota_bytes);
  REQUIRE(unlink((own + "/one").c_str()) == 0);

  // Many files: the worker is stopped, and well before it wrote 64 MiB.
  const InvokeResult filled = Attack(
      *host,
      {{"attack", "fill"}, {"dir", own}, {"chunkKB", 64}, {"totalKB", 64 * 1024}, {"pauseMs", 5}},
      absl::Seconds(20));
  INFO(filled.output.status());
  CHECK(filled.output.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(ReasonOf(filled.output.status()) == "PLUGIN_QUOTA_EXCEEDED");
  CHECK(absl::StrContains(filled.output.status().message(), "quota of 1048576 bytes"));
  CHECK(DataDirUsage(own_dirs, UINT64_MAX) < (uint64_t{8} << 20));
  HelloWorldStillAnswers(*host);
  // Over its quota, it still runs when it does not grow.
  CHECK(Output(Attack(*host, {{"attack", "echo"}, {"x", 4}}))["x"] == 4);

  // Writing while idle, after its answer, is stopped too.
  // (The files go, the directory stays: the warm workers' rules are bound to it.)
  for (const auto& entry : std::filesystem::directory_iterator(own)) {
    std::filesystem::remove_all(entry.path());
  }
  CHECK(Output(Attack(*host, {{"attack", "fillLater"},
                              {"dir", own},
                              {"chunkKB", 64},
                              {"totalKB", 64 * 1024},
                              {"pauseMs", 5}}))["result"] == "started");
  // Polls until the writing has stopped: the usage holds still over a few checks.
  uint64_t last = 0;
  int still = 0;
  const bool stopped = testing::PollUntil(
      [&] {
        const uint64_t now = DataDirUsage(own_dirs, UINT64_MAX);
        still = now == last && now > bounds.data_quota_bytes ? still + 1 : 0;
        last = now;
        return still >= 5;
      },
      testing::kPollTimeout, absl::Milliseconds(100));
  INFO("usage " << last);
  CHECK(stopped);
  CHECK(last < (uint64_t{8} << 20));
  CHECK(Output(Attack(*host, {{"attack", "echo"}, {"x", 5}}))["x"] == 5);
  HelloWorldStillAnswers(*host);
}

TEST_CASE("a worker stays warm between invocations and is recycled after N of them") {
  testing::TempDir dir;
  HostOptions options;
  options.recycle_after = 3;
  auto host = MakeHost(dir.path(), options);
  std::vector<int> counts;
  counts.reserve(7);
  for (int i = 0; i < 7; ++i) {
    // One caller at a time, so the same warm slot serves every call.
    counts.push_back(Output(Attack(*host, {{"attack", "count"}}))["result"].get<int>());
  }
  CHECK(counts == std::vector<int>{1, 2, 3, 1, 2, 3, 1});
  // A crash replaces the worker: its state starts again.
  CHECK(ReasonOf(Attack(*host, {{"attack", "exit"}}).output.status()) == "PLUGIN_CRASHED");
  CHECK(Output(Attack(*host, {{"attack", "count"}}))["result"] == 1);
}

TEST_CASE("cancelling an invocation stops its worker, or takes it out of the queue") {
  testing::TempDir dir;
  HostOptions options;
  options.breaker.crashes = 1000;
  auto host = MakeHost(dir.path(), options);
  struct Done {
    absl::Notification notification;
    InvokeResult result;
  };
  auto submit = [&](Done& done) {
    absl::StatusOr<InvocationHandle> handle =
        host->Submit(Invocation{.plugin = "hostile",
                                .input_json = R"({"attack":"spin"})",
                                .deadline = absl::Now() + absl::Seconds(30),
                                .on_done = [&done](InvokeResult r, InvocationStats) {
                                  done.result = std::move(r);
                                  done.notification.Notify();
                                }});
    REQUIRE(handle.ok());
    return *handle;
  };
  // hostile has two slots: two spins run, the third waits.
  Done first;
  Done second;
  Done third;
  const InvocationHandle running = submit(first);
  const InvocationHandle also_running = submit(second);
  const InvocationHandle queued = submit(third);
  auto hostile = [&] {
    for (const PluginStats& s : host->Stats()) {
      if (s.plugin->manifest.name() == "hostile") return s;
    }
    return PluginStats{};
  };
  // Polling the host's own counters.
  REQUIRE(testing::PollUntil([&] {
    const PluginStats stats = hostile();
    return stats.running >= 2 && stats.queued >= 1;
  }));
  REQUIRE(hostile().queued == 1);

  queued.Cancel();
  REQUIRE(third.notification.WaitForNotificationWithTimeout(absl::Seconds(1)));
  CHECK(third.result.output.status().code() == absl::StatusCode::kCancelled);

  const absl::Time start = absl::Now();
  running.Cancel();
  also_running.Cancel();
  REQUIRE(first.notification.WaitForNotificationWithTimeout(absl::Seconds(5)));
  REQUIRE(second.notification.WaitForNotificationWithTimeout(absl::Seconds(5)));
  CHECK(absl::Now() - start < absl::Seconds(5));  // not the 30 s the spins asked for
  CHECK(first.result.output.status().code() == absl::StatusCode::kCancelled);
  CHECK(second.result.output.status().code() == absl::StatusCode::kCancelled);
  // Cancelling what has ended does nothing; the plugin serves the next caller.
  running.Cancel();
  CHECK(Output(Attack(*host, {{"attack", "echo"}, {"x", 3}}))["x"] == 3);
  CHECK(ZombieChildren() == 0);
}

TEST_CASE("a full queue answers QUEUE_FULL at once") {
  testing::TempDir dir;
  HostOptions options;
  options.queue_limit = 1;
  auto host = MakeHost(dir.path(), options);
  // hostile has two slots; two spins occupy them, one more waits, the next is refused.
  std::vector<std::thread> callers;
  callers.reserve(3);
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] { (void)Attack(*host, {{"attack", "spin"}}, absl::Seconds(2)); });
  }
  auto queued = [&] {
    for (const PluginStats& s : host->Stats()) {
      if (s.plugin->manifest.name() == "hostile") return s.queued + s.running;
    }
    return 0;
  };
  // Polling the host's own counters; the spins' 2 s deadline bounds how long all three stay.
  CHECK(testing::PollUntil([&] { return queued() >= 3; }, absl::Seconds(5)));
  const InvokeResult refused = Attack(*host, {{"attack", "echo"}}, absl::Seconds(2));
  CHECK(refused.output.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(ReasonOf(refused.output.status()) == "QUEUE_FULL");
  for (std::thread& t : callers) t.join();
}

TEST_CASE("10 000 invocations with crashes mixed in leave no zombie behind") {
  testing::TempDir dir;
  HostOptions options;
  options.breaker.crashes = 1000000;  // this is about reaping, not the breaker
  options.recycle_after = 500;
  auto host = MakeHost(dir.path(), options);
  constexpr int kInvocations = 10000;
  constexpr int kCrashEvery = 100;
  const absl::Time deadline = absl::Now() + absl::Seconds(120);
  int ok = 0;
  int crashed = 0;
  std::vector<std::thread> callers;
  callers.reserve(2);
  std::mutex mu;
  for (int t = 0; t < 2; ++t) {
    callers.emplace_back([&, t] {
      for (int i = t; i < kInvocations && absl::Now() < deadline; i += 2) {
        const bool crash = i % kCrashEvery == 0;
        const InvokeResult r =
            crash ? Attack(*host, {{"attack", "exit"}}, absl::Seconds(5))
                  : host->InvokeAndWait("hello-world", R"({"name":"z"})", absl::Seconds(5));
        std::lock_guard<std::mutex> lock(mu);
        if (r.output.ok()) ++ok;
        if (ReasonOf(r.output.status()) == "PLUGIN_CRASHED") ++crashed;
      }
    });
  }
  for (std::thread& t : callers) t.join();
  CHECK(ok + crashed == kInvocations);
  CHECK(crashed == kInvocations / kCrashEvery);
  CHECK(ZombieChildren() == 0);
  host.reset();
  CHECK(ZombieChildren() == 0);
}

}  // namespace spine::plugins
