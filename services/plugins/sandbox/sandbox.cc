#include "services/plugins/sandbox/sandbox.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/core/status.h"
#include "services/plugins/sandbox/landlock.h"
#include "services/plugins/sandbox/seccomp_filter.h"

namespace spine::plugins::sandbox {
namespace {

// The layers entry of a worker that runs without namespaces.
constexpr char kNoNamespaces[] = "namespaces: none";

constexpr uid_t kNobody = 65534;

// Steps of the child's setup; reported to the host through the error pipe with errno.
enum class Step : int {
  kSync,
  kSetsid,
  kStdio,
  kChdir,
  kRlimit,
  kMount,
  kGroups,
  kGid,
  kUid,
  kNoNewPrivs,
  kLandlock,
  kCloseFds,
  kSeccomp,
  kExec,
};

const char* StepName(Step step) {
  switch (step) {
    case Step::kSync:
      return "waiting for the uid map";
    case Step::kSetsid:
      return "setsid";
    case Step::kStdio:
      return "dup2 of stdio";
    case Step::kChdir:
      return "chdir";
    case Step::kRlimit:
      return "setrlimit";
    case Step::kMount:
      return "mounting a data dir noexec";
    case Step::kGroups:
      return "setgroups";
    case Step::kGid:
      return "setresgid";
    case Step::kUid:
      return "setresuid";
    case Step::kNoNewPrivs:
      return "PR_SET_NO_NEW_PRIVS";
    case Step::kLandlock:
      return "landlock_restrict_self";
    case Step::kCloseFds:
      return "close_range";
    case Step::kSeccomp:
      return "seccomp filter";
    case Step::kExec:
      return "execve";
  }
  return "unknown step";
}

struct ChildFailure {
  int step;
  int error;
};

// Everything the child needs, prepared in the host: after the fork the child of a
// multi-threaded process may only make async-signal-safe calls, so it allocates nothing and
// uses raw syscalls where glibc's wrappers would consult per-thread state (set*id, which
// glibc broadcasts to threads the child does not have).
struct ChildPlan {
  std::vector<char*> argv;
  std::vector<char*> envp;
  const char* working_directory;
  int stdin_fd, stdout_fd, stderr_fd;
  int error_fd;
  int sync_fd;  // -1 when no user namespace: nothing to wait for
  int ruleset_fd;
  bool change_identity;
  uid_t uid;
  gid_t gid;
  std::vector<std::pair<int, rlimit>> rlimits;
  // Data dirs to bind-mount onto themselves noexec (with the flags their mount already has,
  // which a user namespace may not clear), in the worker's own mount namespace.
  std::vector<std::pair<const char*, unsigned long>> noexec_mounts;
  sock_fprog seccomp;
};

[[noreturn]] void Fail(const ChildPlan& plan, Step step) {
  const ChildFailure failure{static_cast<int>(step), errno};
  // Nothing more can be done if the host is gone; the exit code still says "failed".
  (void)!write(plan.error_fd, &failure, sizeof(failure));
  _exit(127);
}

[[noreturn]] void ChildMain(const ChildPlan& plan) {
  // Dispositions set to SIG_IGN by the host (SIGPIPE, typically) survive exec; reset them.
  // sa_handler = nullptr is SIG_DFL without the header's C-style cast.
  struct sigaction dfl {};
  dfl.sa_handler = nullptr;
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, nullptr);
  }
  sigset_t none;
  sigemptyset(&none);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, nullptr, sizeof(uint64_t));

  if (plan.sync_fd >= 0) {
    char byte = 0;
    if (read(plan.sync_fd, &byte, 1) != 1) Fail(plan, Step::kSync);
  }
  if (syscall(SYS_setsid) < 0) Fail(plan, Step::kSetsid);
  if (dup2(plan.stdin_fd, 0) < 0 || dup2(plan.stdout_fd, 1) < 0 || dup2(plan.stderr_fd, 2) < 0) {
    Fail(plan, Step::kStdio);
  }
  if (chdir(plan.working_directory) != 0) Fail(plan, Step::kChdir);
  for (const auto& [resource, limit] : plan.rlimits) {
    if (syscall(SYS_prlimit64, 0, resource, &limit, nullptr) != 0) Fail(plan, Step::kRlimit);
  }
  if (!plan.noexec_mounts.empty()) {
    // Nothing done below may reach the host's mount namespace: no propagation back from here.
    if (mount(nullptr, "/", nullptr, MS_REC | MS_SLAVE, nullptr) != 0) Fail(plan, Step::kMount);
    // Landlock has no right for PROT_EXEC mappings; a noexec mount makes the kernel refuse
    // them (mmap EPERM, so dlopen fails) for any file the worker writes itself.
    for (const auto& [path, flags] : plan.noexec_mounts) {
      if (mount(path, path, nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
          mount(nullptr, path, nullptr, MS_REMOUNT | MS_BIND | flags, nullptr) != 0) {
        Fail(plan, Step::kMount);
      }
    }
  }
  if (plan.change_identity) {
    // EPERM when a non-root host denied setgroups for its user namespace: then there are
    // no supplementary groups to drop anyway.
    if (syscall(SYS_setgroups, 0, nullptr) != 0 && errno != EPERM) Fail(plan, Step::kGroups);
    if (syscall(SYS_setresgid, plan.gid, plan.gid, plan.gid) != 0) Fail(plan, Step::kGid);
    if (syscall(SYS_setresuid, plan.uid, plan.uid, plan.uid) != 0) Fail(plan, Step::kUid);
  }
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Fail(plan, Step::kNoNewPrivs);
  if (syscall(SYS_landlock_restrict_self, plan.ruleset_fd, 0) != 0) Fail(plan, Step::kLandlock);
  // Every fd above 2 closes at exec; the error pipe (also O_CLOEXEC) stays usable until then.
  if (syscall(SYS_close_range, 3U, UINT_MAX, CLOSE_RANGE_CLOEXEC) != 0) {
    Fail(plan, Step::kCloseFds);
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &plan.seccomp, 0, 0) != 0) {
    Fail(plan, Step::kSeccomp);
  }
  execve(plan.argv[0], plan.argv.data(), plan.envp.data());
  Fail(plan, Step::kExec);
}

// pipe2 hands out the lowest free fds, which are 0..2 when the host closed its stdio; the
// child's dup2 onto 0..2 would then clobber them. Moves `fd` to 3 or above.
absl::StatusOr<UniqueFd> AboveStdio(int fd) {
  UniqueFd owned(fd);
  if (fd > 2) return owned;
  UniqueFd moved(fcntl(fd, F_DUPFD_CLOEXEC, 3));
  if (!moved.valid()) return absl::InternalError(absl::StrCat("fcntl: ", std::strerror(errno)));
  return moved;
}

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

absl::StatusOr<Pipe> MakePipe() {
  std::array<int, 2> fds{};
  if (pipe2(fds.data(), O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe2: ", std::strerror(errno)));
  }
  Pipe pipe;
  SPINE_ASSIGN_OR_RETURN(pipe.read, AboveStdio(fds[0]));
  SPINE_ASSIGN_OR_RETURN(pipe.write, AboveStdio(fds[1]));
  return pipe;
}

absl::Status WriteProcFile(pid_t pid, const char* name, const std::string& contents) {
  const std::string path = absl::StrCat("/proc/", pid, "/", name);
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid() ||
      write(fd.get(), contents.data(), contents.size()) != static_cast<ssize_t>(contents.size())) {
    return absl::InternalError(absl::StrCat("writing ", path, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

rlimit Limit(uint64_t soft, uint64_t hard) { return rlimit{soft, hard}; }

absl::Status ValidateSpec(const SandboxSpec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty() || spec.argv[0][0] != '/') {
    return absl::InvalidArgumentError("argv[0] must be an absolute path");
  }
  const SandboxLimits& l = spec.limits;
  if (l.cpu_seconds < 1 || l.open_files < 4 || l.processes < 1 || l.memory_bytes == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "limits: cpu_seconds ", l.cpu_seconds, ", open_files ", l.open_files, ", processes ",
        l.processes, ", memory_bytes ", l.memory_bytes, " (need >= 1, 4, 1, 1)"));
  }
  if (!spec.read_write_paths.empty() && !spec.use_namespaces) {
    return absl::InvalidArgumentError(
        "read_write_paths need use_namespaces: they are mounted noexec in the worker's own mount "
        "namespace");
  }
  return absl::OkStatus();
}

// The per-mount flags of `path`'s mount as MS_* bits, plus noexec, nosuid and nodev: a bind
// remount replaces them all, and a user namespace may not drop the ones its mount has locked.
absl::StatusOr<unsigned long> NoexecMountFlags(const std::string& path) {
  struct statvfs vfs {};
  if (statvfs(path.c_str(), &vfs) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("sandbox path ", path, ": ", std::strerror(errno)));
  }
  unsigned long flags = MS_NOEXEC | MS_NOSUID | MS_NODEV;
  if ((vfs.f_flag & ST_RDONLY) != 0) flags |= MS_RDONLY;
  if ((vfs.f_flag & ST_NOATIME) != 0) flags |= MS_NOATIME;
  if ((vfs.f_flag & ST_NODIRATIME) != 0) flags |= MS_NODIRATIME;
  if ((vfs.f_flag & ST_RELATIME) != 0) flags |= MS_RELATIME;
  return flags;
}

}  // namespace

std::vector<std::string> NodeRuntimeReadOnlyPaths(const std::string& node_binary) {
  std::vector<std::string> paths;
  // Shared-library directories (Debian multiarch) rather than single files: the loader and
  // libc load further libraries (NSS, iconv) by name, and these hold no secrets. Debian's own
  // Node.js (not a self-contained build) loads some of its builtins (cjs-module-lexer, undici,
  // acorn) at start from /usr/share/nodejs, Debian's packaged JavaScript libraries.
  for (const char* candidate :
       {node_binary.c_str(), "/lib64", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
        "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/share/nodejs",
        "/etc/ld.so.cache", "/etc/ssl/openssl.cnf", "/dev/null", "/dev/urandom"}) {
    std::array<char, PATH_MAX> resolved{};
    if (realpath(candidate, resolved.data()) == nullptr) continue;
    std::string path(resolved.data());
    bool seen = false;
    for (const std::string& p : paths) seen = seen || p == path;
    if (!seen) paths.push_back(std::move(path));
  }
  return paths;
}

uid_t DefaultSandboxUid() { return geteuid() == 0 ? kNobody : getuid(); }
gid_t DefaultSandboxGid() { return geteuid() == 0 ? static_cast<gid_t>(kNobody) : getgid(); }

SandboxedProcess::SandboxedProcess(pid_t pid, UniqueFd pidfd, UniqueFd stdin_fd, UniqueFd stdout_fd,
                                   UniqueFd stderr_fd, std::string layers)
    : pid_(pid),
      pidfd_(std::move(pidfd)),
      stdin_(std::move(stdin_fd)),
      stdout_(std::move(stdout_fd)),
      stderr_(std::move(stderr_fd)),
      layers_(std::move(layers)) {}

SandboxedProcess::~SandboxedProcess() { KillAndReap(); }

SandboxedProcess::SandboxedProcess(SandboxedProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      layers_(std::move(other.layers_)),
      exit_(std::exchange(other.exit_, std::nullopt)) {}

SandboxedProcess& SandboxedProcess::operator=(SandboxedProcess&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    pidfd_ = std::move(other.pidfd_);
    stdin_ = std::move(other.stdin_);
    stdout_ = std::move(other.stdout_);
    stderr_ = std::move(other.stderr_);
    layers_ = std::move(other.layers_);
    exit_ = std::exchange(other.exit_, std::nullopt);
  }
  return *this;
}

void SandboxedProcess::Kill() {
  if (pid_ <= 0 || exit_.has_value()) return;  // a reaped pid may already be someone else's
  // The group reaches what the worker started without a PID namespace; the pidfd reaches the
  // worker even if it left its group (setsid is allowed to it).
  kill(-pid_, SIGKILL);
  syscall(SYS_pidfd_send_signal, pidfd_.get(), SIGKILL, nullptr, 0);
}

absl::StatusOr<ExitStatus> SandboxedProcess::Wait(absl::Duration timeout) {
  if (exit_.has_value()) return *exit_;
  if (pid_ <= 0) return absl::FailedPreconditionError("no process");
  if (timeout != absl::InfiniteDuration()) {
    pollfd pfd{pidfd_.get(), POLLIN, 0};
    const auto ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
    int rc = 0;
    do {
      rc = poll(&pfd, 1, ms);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", pid_, " still running after ", absl::FormatDuration(timeout)));
    }
  }
  int status = 0;
  pid_t rc = 0;
  do {
    rc = waitpid(pid_, &status, 0);
  } while (rc < 0 && errno == EINTR);
  if (rc != pid_) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  ExitStatus exit;
  exit.signaled = WIFSIGNALED(status);
  exit.code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
  exit.signal = exit.signaled ? WTERMSIG(status) : 0;
  // Descendants outside a PID namespace may outlive the worker; they share its group.
  kill(-pid_, SIGKILL);
  exit_ = exit;
  return exit;
}

void SandboxedProcess::KillAndReap() {
  if (pid_ <= 0 || exit_.has_value()) return;
  Kill();
  (void)Wait(absl::InfiniteDuration());
}

absl::StatusOr<SandboxedProcess> SpawnSandboxed(const SandboxSpec& spec) {
  SPINE_RETURN_IF_ERROR(ValidateSpec(spec));
  SPINE_ASSIGN_OR_RETURN(const int abi, LandlockAbiVersion());
  if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox unavailable: seccomp is not offered by this kernel (", std::strerror(errno), ")"));
  }
  LandlockPolicy landlock{spec.read_only_paths, spec.read_write_paths, spec.connect_ports};
  SPINE_ASSIGN_OR_RETURN(UniqueFd ruleset, BuildLandlockRuleset(landlock, abi));
  SPINE_ASSIGN_OR_RETURN(std::vector<sock_filter> program,
                         BuildSeccompProgram(SeccompPolicy{!spec.connect_ports.empty()}));

  const uid_t uid = spec.uid.value_or(DefaultSandboxUid());
  const gid_t gid = spec.gid.value_or(DefaultSandboxGid());
  const bool host_root = geteuid() == 0;
  if (!host_root && (uid != getuid() || gid != getgid())) {
    return absl::InvalidArgumentError(absl::StrCat("uid ", uid, "/gid ", gid,
                                                   ": a non-root host can only run workers as "
                                                   "itself"));
  }

  // Copies owned here so the child's char* arrays stay valid.
  std::vector<std::string> argv_storage = spec.argv;
  std::vector<std::string> env_storage = spec.environment;
  ChildPlan plan{};
  for (std::string& s : argv_storage) plan.argv.push_back(s.data());
  plan.argv.push_back(nullptr);
  for (std::string& s : env_storage) plan.envp.push_back(s.data());
  plan.envp.push_back(nullptr);
  plan.working_directory = spec.working_directory.c_str();
  const SandboxLimits& l = spec.limits;
  const auto cpu = static_cast<uint64_t>(l.cpu_seconds);
  plan.rlimits = {
      {RLIMIT_CPU, Limit(cpu, cpu + 1)},
      {RLIMIT_DATA, Limit(l.memory_bytes, l.memory_bytes)},
      {RLIMIT_NOFILE,
       Limit(static_cast<uint64_t>(l.open_files), static_cast<uint64_t>(l.open_files))},
      {RLIMIT_NPROC, Limit(static_cast<uint64_t>(l.processes), static_cast<uint64_t>(l.processes))},
      {RLIMIT_FSIZE, Limit(l.file_size_bytes, l.file_size_bytes)},
      {RLIMIT_CORE, Limit(0, 0)},
      {RLIMIT_MEMLOCK, Limit(0, 0)},
      {RLIMIT_MSGQUEUE, Limit(0, 0)},
  };
  if (l.address_space_bytes != 0) {
    plan.rlimits.emplace_back(RLIMIT_AS, Limit(l.address_space_bytes, l.address_space_bytes));
  }
  plan.seccomp.len = static_cast<unsigned short>(program.size());
  plan.seccomp.filter = program.data();
  for (const std::string& path : spec.read_write_paths) {
    SPINE_ASSIGN_OR_RETURN(const unsigned long flags, NoexecMountFlags(path));
    plan.noexec_mounts.emplace_back(path.c_str(), flags);
  }
  plan.ruleset_fd = ruleset.get();
  plan.uid = uid;
  plan.gid = gid;

  SPINE_ASSIGN_OR_RETURN(Pipe in, MakePipe());
  SPINE_ASSIGN_OR_RETURN(Pipe out, MakePipe());
  SPINE_ASSIGN_OR_RETURN(Pipe err, MakePipe());
  SPINE_ASSIGN_OR_RETURN(Pipe failure, MakePipe());
  SPINE_ASSIGN_OR_RETURN(Pipe sync, MakePipe());
  plan.stdin_fd = in.read.get();
  plan.stdout_fd = out.write.get();
  plan.stderr_fd = err.write.get();
  plan.error_fd = failure.write.get();

  uint64_t ns_flags = 0;
  if (spec.use_namespaces) {
    ns_flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWNS;
    if (spec.connect_ports.empty()) ns_flags |= CLONE_NEWNET;
  }

  // Signals stay blocked across the clone so no host handler runs in the child.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &saved);
  int pidfd = -1;
  pid_t pid = -1;
  int namespaces_errno = 0;  // why the kernel refused namespaces, if it did
  for (;;) {
    plan.sync_fd = (ns_flags & CLONE_NEWUSER) != 0 ? sync.read.get() : -1;
    plan.change_identity = host_root || (ns_flags & CLONE_NEWUSER) != 0;
    // A raw clone rather than fork(): only it creates the namespaces and the pidfd with the
    // child, and fork's atfork handlers are of no use to a child that only makes syscalls.
    pid = static_cast<pid_t>(
        syscall(SYS_clone, ns_flags | CLONE_PIDFD | SIGCHLD, nullptr, &pidfd, nullptr, nullptr));
    if (pid == 0) ChildMain(plan);
    if (pid > 0 || ns_flags == 0) break;
    // The kernel refused namespaces: they are the optional layer, except for the mount
    // namespace that noexec data dirs need.
    if (!plan.noexec_mounts.empty()) break;
    namespaces_errno = errno;
    ns_flags = 0;
  }
  const int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
  if (pid < 0 && !plan.noexec_mounts.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox unavailable: data dirs are mounted noexec in the worker's own "
                     "mount namespace, and the kernel refused namespaces (",
                     std::strerror(clone_errno), ")"));
  }
  if (pid < 0) {
    return absl::InternalError(absl::StrCat("clone: ", std::strerror(clone_errno)));
  }
  UniqueFd pidfd_owned(pidfd);
  in.read.Reset();
  out.write.Reset();
  err.write.Reset();
  failure.write.Reset();
  sync.read.Reset();
  ruleset.Reset();

  auto reap = [pid, &pidfd_owned] {
    syscall(SYS_pidfd_send_signal, pidfd_owned.get(), SIGKILL, nullptr, 0);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  };
  if ((ns_flags & CLONE_NEWUSER) != 0) {
    absl::Status mapped = WriteProcFile(pid, "uid_map", absl::StrCat(uid, " ", uid, " 1\n"));
    if (mapped.ok() && !host_root) mapped = WriteProcFile(pid, "setgroups", "deny");
    if (mapped.ok()) mapped = WriteProcFile(pid, "gid_map", absl::StrCat(gid, " ", gid, " 1\n"));
    const char go = 1;
    if (mapped.ok() && write(sync.write.get(), &go, 1) != 1) {
      mapped = absl::InternalError(absl::StrCat("sync pipe: ", std::strerror(errno)));
    }
    if (!mapped.ok()) {
      reap();
      return mapped;
    }
  }
  sync.write.Reset();

  ChildFailure child_failure{};
  ssize_t n = 0;
  do {
    n = read(failure.read.get(), &child_failure, sizeof(child_failure));
  } while (n < 0 && errno == EINTR);
  if (n != 0) {
    reap();
    if (n != static_cast<ssize_t>(sizeof(child_failure))) {
      return absl::InternalError("sandboxed child died during setup");
    }
    const auto step = static_cast<Step>(child_failure.step);
    const std::string message = absl::StrCat("sandboxed child failed at ", StepName(step), ": ",
                                             std::strerror(child_failure.error));
    if (step == Step::kLandlock || step == Step::kSeccomp || step == Step::kNoNewPrivs ||
        step == Step::kMount) {
      return absl::FailedPreconditionError(absl::StrCat("sandbox unavailable: ", message));
    }
    return absl::InternalError(message);
  }

  std::vector<std::string> layers = {
      DescribeLandlockLayer(abi), absl::StrCat("seccomp (", program.size(), " insns)"),
      "no_new_privs", "rlimits", absl::StrCat("uid ", plan.change_identity ? uid : getuid())};
  if (!plan.noexec_mounts.empty()) layers.emplace_back("noexec data dirs");
  if (ns_flags != 0) {
    absl::StrAppend(&layers.emplace_back("namespaces: user,pid,ipc,mnt"),
                    (ns_flags & CLONE_NEWNET) != 0 ? ",net" : "");
  } else if (namespaces_errno != 0) {
    // Said, not silent: SandboxSelfTest refuses this unless told to accept it.
    layers.emplace_back(absl::StrCat(
        kNoNamespaces, " (clone refused them: ", std::strerror(namespaces_errno), ")"));
  } else {
    layers.emplace_back(kNoNamespaces);
  }
  return SandboxedProcess(pid, std::move(pidfd_owned), std::move(in.write), std::move(out.read),
                          std::move(err.read), absl::StrJoin(layers, "; "));
}

namespace {

// Reads `fd` to EOF or until `deadline`.
std::string ReadUntilEof(int fd, absl::Time deadline) {
  std::string data;
  std::array<char, 4096> buf{};
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd pfd{fd, POLLIN, 0};
    const int rc = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) break;
    const ssize_t n = read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buf.data(), static_cast<size_t>(n));
  }
  return data;
}

}  // namespace

absl::Status SandboxSelfTest(const std::string& node_binary, const SelfTestOptions& options,
                             std::string* layers) {
  UniqueFd listener(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if (!listener.valid() || bind(listener.get(), sa, sizeof(addr)) != 0 ||
      listen(listener.get(), 4) != 0 || getsockname(listener.get(), sa, &len) != 0) {
    return absl::InternalError(absl::StrCat("self-test listener: ", std::strerror(errno)));
  }
  const int port = ntohs(addr.sin_port);

  // The canary prints one line per probe; the host decides from them.
  const std::string script = absl::StrCat(
      "const fs=require('fs'),net=require('net');console.log('canary ran');"
      "try{fs.readFileSync('/etc/passwd');console.log('passwd: read')}"
      "catch(e){console.log('passwd: '+e.code)}"
      "const s=net.connect(",
      port,
      ",'127.0.0.1');"
      "s.on('connect',()=>{console.log('connect: connected');process.exit(0)});"
      "s.on('error',e=>{console.log('connect: '+e.code);process.exit(0)});");
  SandboxSpec spec;
  spec.argv = {node_binary, "-e", script};
  spec.read_only_paths = NodeRuntimeReadOnlyPaths(node_binary);
  spec.limits.cpu_seconds = 5;
  SPINE_ASSIGN_OR_RETURN(SandboxedProcess canary, SpawnSandboxed(spec));
  if (layers != nullptr) *layers = canary.layers();
  // First, as it decides alone; the destructor kills and reaps the canary.
  if (!options.accept_without_namespaces && absl::StrContains(canary.layers(), kNoNamespaces)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox self-test: the canary runs without namespaces (", canary.layers(),
        "); in a container, its seccomp profile must allow them "
        "(deploy/compose/seccomp-plugins.json), or SPINE_PLUGINS_ACCEPT_WEAKER_SANDBOX=1 "
        "accepts the weaker sandbox"));
  }
  canary.CloseStdin();
  const std::string out = ReadUntilEof(canary.stdout_fd(), absl::Now() + absl::Seconds(10));
  canary.Kill();
  SPINE_ASSIGN_OR_RETURN(const ExitStatus exit, canary.Wait(absl::Seconds(5)));

  const int accepted = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
  if (accepted >= 0) close(accepted);
  if (!absl::StrContains(out, "canary ran\n")) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox self-test: canary did not run (exit ", exit.code, ", signal ",
                     exit.signal, ", output \"", out, "\")"));
  }
  if (absl::StrContains(out, "passwd: read") || !absl::StrContains(out, "passwd: ")) {
    return absl::FailedPreconditionError(
        absl::StrCat("sandbox self-test: canary read /etc/passwd (output \"", out, "\")"));
  }
  if (accepted >= 0 || absl::StrContains(out, "connect: connected") ||
      !absl::StrContains(out, "connect: ")) {
    return absl::FailedPreconditionError(absl::StrCat(
        "sandbox self-test: canary connected to 127.0.0.1:", port, " (output \"", out, "\")"));
  }
  return absl::OkStatus();
}

}  // namespace spine::plugins::sandbox
