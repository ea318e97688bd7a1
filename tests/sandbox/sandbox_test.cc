// The sandbox launcher against hostile `node -e` scripts: each attack must fail and the
// test process (the host) must carry on.
#include "services/plugins/sandbox/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/child_process.h"

namespace spine::plugins::sandbox {
namespace {

const char kNode[] = "/usr/bin/node";

struct RunResult {
  ExitStatus exit;
  std::string out;
  std::string err;
};

std::string Describe(const RunResult& r) {
  return absl::StrCat("exit ", r.exit.code, " signal ", r.exit.signal, "\nstdout: ", r.out,
                      "\nstderr: ", r.err);
}

SandboxSpec NodeSpec(const std::string& script) {
  SandboxSpec spec;
  spec.argv = {kNode, "-e", script};
  spec.read_only_paths = NodeRuntimeReadOnlyPaths(kNode);
  spec.limits.cpu_seconds = 10;
  return spec;
}

// Runs the worker to completion, reading stdout and stderr until both close or `limit` of
// wall time passes; then the worker is killed and reaped either way.
RunResult Run(const SandboxSpec& spec, absl::Duration limit = absl::Seconds(20)) {
  absl::StatusOr<SandboxedProcess> process = SpawnSandboxed(spec);
  REQUIRE(process.ok());
  INFO(process->layers());
  process->CloseStdin();
  RunResult result;
  const absl::Time deadline = absl::Now() + limit;
  std::array<pollfd, 2> fds{pollfd{process->stdout_fd(), POLLIN, 0},
                            pollfd{process->stderr_fd(), POLLIN, 0}};
  std::array<std::string*, 2> sinks{&result.out, &result.err};
  int open_streams = 2;
  while (open_streams > 0) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    const int rc =
        poll(fds.data(), fds.size(), static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      std::array<char, 4096> buf{};
      const ssize_t n = read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        sinks[i]->append(buf.data(), static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        fds[i].fd = -1;
        --open_streams;
      }
    }
  }
  absl::StatusOr<ExitStatus> exit =
      process->Wait(std::max(deadline - absl::Now(), absl::Milliseconds(1)));
  if (!exit.ok()) {
    process->Kill();
    exit = process->Wait(absl::InfiniteDuration());
    FAIL_CHECK("worker outlived its wall-time limit and was killed");
  }
  REQUIRE(exit.ok());
  result.exit = *exit;
  return result;
}

// A loopback TCP listener on an ephemeral port, non-blocking so a test can check nothing
// arrived.
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

// A data directory the worker's uid owns, as the host will prepare it.
std::string OwnedDataDir(const testing::TempDir& dir) {
  std::string data = dir.path() + "/data";
  REQUIRE(mkdir(data.c_str(), 0700) == 0);
  REQUIRE(chown(data.c_str(), DefaultSandboxUid(), DefaultSandboxGid()) == 0);
  return data;
}

TEST_CASE("hello world runs under the sandbox and prints") {
  RunResult r = Run(NodeSpec("console.log('hello, ' + 'world')"));
  INFO(Describe(r));
  CHECK(r.out == "hello, world\n");
  CHECK_FALSE(r.exit.signaled);
  CHECK(r.exit.code == 0);
}

TEST_CASE("the worker cannot read host secrets or other processes' roots") {
  RunResult r =
      Run(NodeSpec("const fs=require('fs');"
                   "for (const p of ['/etc/passwd','/etc/shadow','/proc/self/environ',"
                   "'/proc/1/root/etc/passwd','/proc/1/environ','/etc/hostname']) {"
                   "  try { fs.readFileSync(p); console.log(p + ': read'); }"
                   "  catch (e) { console.log(p + ': ' + e.code); } }"
                   "try { fs.readdirSync('/'); console.log('/: listed') } catch (e) { "
                   "console.log('/: ' + e.code) }"));
  INFO(Describe(r));
  CHECK(r.exit.code == 0);
  CHECK(absl::StrContains(r.out, "/etc/passwd: EACCES"));
  CHECK(absl::StrContains(r.out, "/etc/shadow: EACCES"));
  CHECK(absl::StrContains(r.out, "/proc/self/environ: EACCES"));
  CHECK(absl::StrContains(r.out, "/proc/1/root/etc/passwd: E"));
  CHECK(absl::StrContains(r.out, "/: EACCES"));
  CHECK_FALSE(absl::StrContains(r.out, ": read"));
  CHECK_FALSE(absl::StrContains(r.out, ": listed"));
}

TEST_CASE("the worker writes inside its data dir and nowhere else") {
  testing::TempDir dir;
  const std::string data = OwnedDataDir(dir);
  REQUIRE(chmod(dir.path().c_str(), 0777) == 0);  // only Landlock stands in the way outside
  SandboxSpec spec = NodeSpec(
      absl::StrCat("const fs=require('fs');"
                   "for (const p of ['",
                   data, "/inside.txt','", dir.path(), "/outside.txt','/tmp/spine-sbx-", getpid(),
                   "']) {"
                   "  try { fs.writeFileSync(p, 'x'); console.log(p + ': written'); }"
                   "  catch (e) { console.log(p + ': ' + e.code); } }"));
  spec.read_write_paths = {data};
  RunResult r = Run(spec);
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, data + "/inside.txt: written"));
  CHECK(absl::StrContains(r.out, dir.path() + "/outside.txt: EACCES"));
  CHECK(access((data + "/inside.txt").c_str(), F_OK) == 0);
  CHECK(access((dir.path() + "/outside.txt").c_str(), F_OK) != 0);
  CHECK(access(absl::StrCat("/tmp/spine-sbx-", getpid()).c_str(), F_OK) != 0);
}

TEST_CASE("the worker cannot run a shell through child_process") {
  RunResult r = Run(
      NodeSpec("try { const o = require('child_process').execSync('/bin/sh -c \"cat /etc/passwd\"',"
               "  {stdio: ['ignore', 'pipe', 'ignore']}); console.log('ran: ' + o.length); }"
               "catch (e) { console.log('refused: ' + (e.code || e.status)); }"));
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, "refused: "));
  CHECK_FALSE(absl::StrContains(r.out, "root:"));
  CHECK_FALSE(absl::StrContains(r.out, "ran: "));
}

TEST_CASE("the worker cannot connect to a loopback port") {
  Listener listener;
  RunResult r = Run(NodeSpec(absl::StrCat(
      "const s = require('net').connect(", listener.port(),
      ", '127.0.0.1');"
      "s.on('connect', () => { console.log('connected'); process.exit(0); });"
      "s.on('error', e => { console.log('refused: ' + e.code); process.exit(0); });")));
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, "refused: "));
  CHECK_FALSE(listener.Accepted());
}

TEST_CASE("the worker cannot open a listening socket") {
  RunResult r = Run(NodeSpec(
      "const srv = require('net').createServer();"
      "srv.on('error', e => { console.log('refused: ' + e.code); process.exit(0); });"
      "srv.listen(0, '127.0.0.1', () => { console.log('listening'); process.exit(0); });"));
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, "refused: "));
  CHECK_FALSE(absl::StrContains(r.out, "listening"));
}

TEST_CASE("a declared port is reachable and no other") {
  Listener allowed;
  Listener other;
  SandboxSpec spec = NodeSpec(
      absl::StrCat("const net = require('net'); let left = 2;"
                   "for (const port of [",
                   allowed.port(), ", ", other.port(),
                   "]) {"
                   "  const s = net.connect(port, '127.0.0.1');"
                   "  s.on('connect', () => { console.log(port + ': connected'); s.destroy();"
                   "    if (--left == 0) process.exit(0); });"
                   "  s.on('error', e => { console.log(port + ': ' + e.code); if (--left == 0) "
                   "process.exit(0); }); }"));
  spec.connect_ports = {static_cast<uint16_t>(allowed.port())};
  RunResult r = Run(spec);
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, absl::StrCat(allowed.port(), ": connected")));
  CHECK(absl::StrContains(r.out, absl::StrCat(other.port(), ": EACCES")));
  CHECK_FALSE(other.Accepted());
}

#ifdef SPINE_HOSTILE_ADDON
// A script that loads the hostile addon (tests/sandbox/hostile_addon.cc) from `path` and prints
// "<call> <port>: <result>" for each attempt, or "load: <error>" when it cannot be loaded.
std::string AddonScript(const std::string& path,
                        const std::vector<std::pair<std::string, int>>& attempts) {
  std::string calls;
  for (const auto& [call, port] : attempts) absl::StrAppend(&calls, "['", call, "',", port, "],");
  return absl::StrCat(
      "const m = {exports: {}};"
      "try { process.dlopen(m, '",
      path,
      "'); } catch (e) { console.log('load: ' + e.message); process.exit(0); }"
      "for (const [call, port] of [",
      calls, "]) console.log(call + ' ' + port + ': ' + m.exports.attempt(call, port));");
}

TEST_CASE("native code reaches no port past Landlock's TCP rule: MPTCP, SCTP, fast open, listen") {
  Listener allowed;
  Listener other;
  // The attack: any declared port lets inet stream sockets through seccomp, and
  // Landlock's port rule covers TCP only.
  SandboxSpec spec = NodeSpec(AddonScript(SPINE_HOSTILE_ADDON, {{"tcp", allowed.port()},
                                                                {"tcp", other.port()},
                                                                {"mptcp", other.port()},
                                                                {"mptcp", allowed.port()},
                                                                {"sctp", other.port()},
                                                                {"fastopen", other.port()},
                                                                {"listen", 0}}));
  spec.read_only_paths.emplace_back(SPINE_HOSTILE_ADDON);
  spec.connect_ports = {static_cast<uint16_t>(allowed.port())};
  RunResult r = Run(spec);
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, absl::StrCat("tcp ", allowed.port(), ": ok")));
  CHECK(absl::StrContains(r.out, absl::StrCat("tcp ", other.port(), ": EACCES")));
  CHECK(absl::StrContains(r.out, absl::StrCat("mptcp ", other.port(), ": EPERM")));
  CHECK(absl::StrContains(r.out, absl::StrCat("mptcp ", allowed.port(), ": EPERM")));
  CHECK(absl::StrContains(r.out, absl::StrCat("sctp ", other.port(), ": EPERM")));
  CHECK(absl::StrContains(r.out, absl::StrCat("fastopen ", other.port(), ": EPERM")));
  CHECK(absl::StrContains(r.out, "listen 0: EPERM"));
  CHECK_FALSE(other.Accepted());
}

TEST_CASE("a native object the worker writes into its data dir cannot be loaded") {
  testing::TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string data = OwnedDataDir(dir);
  const std::string copy = data + "/planted.node";
  // The pure-JS half of the attack: copy the object into the data dir, then dlopen the copy.
  // The original (the worker's read-only "plugin folder") loads: the control.
  SandboxSpec spec = NodeSpec(absl::StrCat(
      "const fs = require('fs'); fs.copyFileSync('", SPINE_HOSTILE_ADDON, "', '", copy,
      "');"
      "for (const p of ['",
      copy, "', '", SPINE_HOSTILE_ADDON,
      "']) { const m = {exports: {}};"
      "  try { process.dlopen(m, p); console.log(p + ': loaded ' + typeof m.exports.attempt); }"
      "  catch (e) { console.log(p + ': ' + e.message); } }"));
  spec.read_only_paths.emplace_back(SPINE_HOSTILE_ADDON);
  spec.read_write_paths = {data};
  RunResult r = Run(spec);
  INFO(Describe(r));
  CHECK(access(copy.c_str(), F_OK) == 0);  // the write itself is allowed
  CHECK(absl::StrContains(r.out, absl::StrCat(SPINE_HOSTILE_ADDON, ": loaded function")));
  CHECK_FALSE(absl::StrContains(r.out, copy + ": loaded"));
  CHECK(absl::StrContains(r.out, copy + ": "));
}
#endif

TEST_CASE("the worker sees none of the host's environment") {
  REQUIRE(setenv("SPINE_SECRET", "x", 1) == 0);
  RunResult r = Run(NodeSpec("console.log(JSON.stringify(Object.keys(process.env).sort()))"));
  unsetenv("SPINE_SECRET");
  INFO(Describe(r));
  CHECK(r.out == "[\"LANG\",\"PATH\"]\n");
}

TEST_CASE("descriptors the host leaks are closed in the worker") {
  testing::TempDir dir;
  const std::string secret = dir.WriteFile("secret", "top secret");
  // Deliberately without O_CLOEXEC, and at a number node's own descriptors never reach.
  const int opened = open(secret.c_str(), O_RDONLY);
  REQUIRE(opened > 2);
  const int leaked = dup2(opened, 100);
  close(opened);
  REQUIRE(leaked == 100);
  RunResult r =
      Run(NodeSpec(absl::StrCat("const fs = require('fs'); const b = Buffer.alloc(64);"
                                "try { const n = fs.readSync(",
                                leaked,
                                ", b); console.log('read: ' + b.toString('utf8', 0, n)); }"
                                "catch (e) { console.log('refused: ' + e.code); }")));
  close(leaked);
  INFO(Describe(r));
  CHECK(absl::StrContains(r.out, "refused: EBADF"));
  CHECK_FALSE(absl::StrContains(r.out, "top secret"));
}

TEST_CASE("a fork bomb is bounded by the process limit") {
  SandboxSpec spec = NodeSpec(
      "const cp = require('child_process'); let ok = 0, failed = 0; const codes = {};"
      "for (let i = 0; i < 200; i++) {"
      "  try { const c = cp.spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'],"
      "      {stdio: 'pipe'});"
      "    c.on('spawn', () => ok++); c.on('error', e => { failed++; codes[e.code] = "
      "(codes[e.code] || 0) + 1; }); }"
      "  catch (e) { failed++; } }"
      "setTimeout(() => { console.log(JSON.stringify({ok, failed, codes})); process.exit(0); }, "
      "3000);");
  spec.limits.processes = 32;
  RunResult r = Run(spec, absl::Seconds(30));
  INFO(Describe(r));
  // Each node needs several threads, and threads count against RLIMIT_NPROC too: far fewer
  // than 32 children can start, let alone 200.
  CHECK(absl::StrContains(r.out, "\"ok\":"));
  const size_t at = r.out.find("\"ok\":");
  REQUIRE(at != std::string::npos);
  CHECK(std::atoi(r.out.c_str() + at + 5) < 32);
  // Refused by a limit: processes (EAGAIN), or open files (EMFILE: each child takes pipes) when
  // fewer threads per node leave that limit to bite first, as with Debian's Node.js 18.
  CHECK((absl::StrContains(r.out, "EAGAIN") || absl::StrContains(r.out, "EMFILE")));
}

TEST_CASE("a memory bomb is stopped at the memory limit") {
  SandboxSpec spec = NodeSpec(
      "const held = []; let mb = 0;"
      "try { for (; mb < 4096; mb++) held.push(Buffer.alloc(1 << 20, 1)); }"
      "catch (e) { console.log('stopped at ' + mb + ' MB: ' + e.message); process.exit(0); }"
      "console.log('allocated ' + mb + ' MB');");
  spec.limits.memory_bytes = 256ULL << 20;
  RunResult r = Run(spec, absl::Seconds(30));
  INFO(Describe(r));
  CHECK_FALSE(absl::StrContains(r.out, "allocated 4096 MB"));
  // Either node caught the failed allocation or V8 aborted the process.
  CHECK((absl::StrContains(r.out, "stopped at ") || r.exit.signaled || r.exit.code != 0));
}

TEST_CASE("a CPU spin is stopped by the CPU limit") {
  SandboxSpec spec = NodeSpec("for (;;) {}");
  spec.limits.cpu_seconds = 1;
  const absl::Time start = absl::Now();
  RunResult r = Run(spec, absl::Seconds(15));
  INFO(Describe(r));
  CHECK(r.exit.signaled);
  CHECK((r.exit.signal == SIGXCPU || r.exit.signal == SIGKILL));
  CHECK(absl::Now() - start < absl::Seconds(10));
}

TEST_CASE("Kill stops a worker that ignores SIGTERM and reaps it") {
  absl::StatusOr<SandboxedProcess> process =
      SpawnSandboxed(NodeSpec("process.on('SIGTERM', () => {}); setInterval(() => {}, 1000);"));
  REQUIRE(process.ok());
  process->Kill();
  absl::StatusOr<ExitStatus> exit = process->Wait(absl::Seconds(10));
  REQUIRE(exit.ok());
  CHECK(exit->signaled);
  CHECK(exit->signal == SIGKILL);
}

TEST_CASE("the worker runs unprivileged, with or without namespaces") {
  for (const bool namespaces : {true, false}) {
    SandboxSpec spec = NodeSpec(
        "let r = 'uid ' + process.getuid() + ' ppid ' + process.ppid;"
        "try { require('fs').readFileSync('/etc/passwd'); r += ' passwd read'; }"
        "catch (e) { r += ' passwd ' + e.code; } console.log(r);");
    spec.use_namespaces = namespaces;
    RunResult r = Run(spec);
    INFO(namespaces << "\n" << Describe(r));
    CHECK(absl::StrContains(r.out, absl::StrCat("uid ", DefaultSandboxUid(), " ")));
    CHECK(absl::StrContains(r.out, "passwd EACCES"));
    // In its own PID namespace the worker's parent is outside and shows as 0.
    if (namespaces) CHECK(absl::StrContains(r.out, "ppid 0 "));
  }
}

TEST_CASE("a spec without an absolute program is refused") {
  SandboxSpec spec;
  spec.argv = {"node"};
  CHECK(SpawnSandboxed(spec).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the sandbox self-test passes on this kernel") {
  std::string layers;
  const absl::Status status = SandboxSelfTest(kNode, {}, &layers);
  INFO(status.ToString());
  CHECK(status.ok());
  CHECK(absl::StrContains(layers, "namespaces: user,pid,ipc,mnt,net"));
}

// Runs the self-test, both ways, in a child whose own seccomp filter refuses clone with
// CLONE_NEWUSER (as Docker's default profile does in a container); returns what each said.
struct RefusedNamespacesResult {
  std::string strict;     // the status, then the layers
  std::string accepting;  // the same with accept_without_namespaces
};
RefusedNamespacesResult SelfTestWithNamespacesRefused() {
  std::array<int, 2> pipe_fds{};
  REQUIRE(pipe(pipe_fds.data()) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(pipe_fds[0]);
    scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
    const scmp_arg_cmp new_user{0, SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER};
    if (filter == nullptr ||
        seccomp_rule_add_array(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1, &new_user) != 0 ||
        seccomp_load(filter) != 0) {
      _exit(3);
    }
    std::string out;
    for (const bool accept : {false, true}) {
      std::string layers;
      const absl::Status status =
          SandboxSelfTest(kNode, {.accept_without_namespaces = accept}, &layers);
      absl::StrAppend(&out, status.ToString(), "\n", layers, std::string(1, '\0'));
    }
    const bool written = write(pipe_fds[1], out.data(), out.size()) == ssize_t(out.size());
    _exit(written ? 0 : 4);
  }
  close(pipe_fds[1]);
  std::string out;
  std::array<char, 4096> buf{};
  ssize_t n = 0;
  while ((n = read(pipe_fds[0], buf.data(), buf.size())) > 0) out.append(buf.data(), size_t(n));
  close(pipe_fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(child, &wstatus, 0) == child);
  REQUIRE(WIFEXITED(wstatus));
  REQUIRE(WEXITSTATUS(wstatus) == 0);
  const size_t split = out.find('\0');
  REQUIRE(split != std::string::npos);
  return {out.substr(0, split), out.substr(split + 1)};
}

TEST_CASE(
    "without namespaces the self-test fails and says so, unless the weaker sandbox is "
    "accepted") {
  const RefusedNamespacesResult result = SelfTestWithNamespacesRefused();
  INFO(result.strict);
  CHECK(absl::StrContains(result.strict, "FAILED_PRECONDITION"));
  CHECK(absl::StrContains(result.strict, "the canary runs without namespaces"));
  CHECK(absl::StrContains(result.strict, "SPINE_PLUGINS_ACCEPT_WEAKER_SANDBOX"));
  CHECK(absl::StrContains(result.strict,
                          "namespaces: none (clone refused them: Operation not permitted)"));
  INFO(result.accepting);
  // Accepted, the weaker sandbox is judged by the probes alone. (Whether a worker then starts
  // at all depends on the host: in a container, RLIMIT_NPROC counts every process of the shared
  // uid without a user namespace.)
  CHECK_FALSE(absl::StrContains(result.accepting, "without namespaces"));
  // Every other layer is still there.
  CHECK(absl::StrContains(result.accepting, "landlock"));
  CHECK(absl::StrContains(result.accepting, "seccomp"));
  CHECK(absl::StrContains(result.accepting, "namespaces: none (clone refused them"));
}

}  // namespace
}  // namespace spine::plugins::sandbox
