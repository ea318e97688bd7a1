// SpawnSandboxed: starts a plugin worker (a Node.js process) confined by the kernel.
//
// Layers, all applied between fork and exec, none optional except the namespaces:
//   - Landlock: read-only access to exactly the listed paths, read-write to the listed data
//     dirs, no TCP bind, TCP connect only to declared ports (ABI >= 4), abstract UNIX
//     sockets and signals scoped to the sandbox (ABI >= 6). Without Landlock, spawning
//     fails with FAILED_PRECONDITION "sandbox unavailable: ..." — there is no unsandboxed mode.
//   - seccomp (seccomp_filter.h): denies ptrace, process_vm_*, mount, namespaces, bpf,
//     io_uring, keyrings, module loading, listen(), TCP Fast Open sends, and every socket but
//     AF_UNIX pairs and, when ports are declared, plain TCP (protocol 0/IPPROTO_TCP: MPTCP,
//     SCTP and the rest are beyond Landlock's port rules).
//   - the data dirs (read_write_paths) are bind-mounted onto themselves noexec, nosuid, nodev
//     in the worker's own mount namespace: Landlock has no right for PROT_EXEC mappings, so
//     this is what stops a worker from writing a native object and dlopen()ing it (mmap
//     answers EPERM). Every file the worker can map executable is then the runtime's or its
//     plugin folder's. A spec with data dirs needs the mount namespace: without it spawning
//     fails ("sandbox unavailable").
//   - no_new_privs, rlimits (CPU, memory via RLIMIT_DATA, open files, processes/threads,
//     file size, core 0), a cleared environment, only fds 0/1/2 inherited, its own session
//     and process group, and an unprivileged uid (nobody when the host runs as root, since
//     RLIMIT_NPROC does not bind uid 0).
//   - where the kernel allows: new user, PID, IPC, mount and (without declared ports)
//     network namespaces. The worker is then PID 1 of its PID namespace, so killing it
//     kills everything it started.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/plugins/sandbox/unique_fd.h"

namespace spine::plugins::sandbox {

struct SandboxLimits {
  int cpu_seconds = 10;                    // RLIMIT_CPU: SIGXCPU, then SIGKILL a second later
  uint64_t memory_bytes = 512ULL << 20;    // RLIMIT_DATA (heap and private writable maps)
  uint64_t address_space_bytes = 0;        // RLIMIT_AS when non-zero; V8 reserves a lot
  int open_files = 64;                     // RLIMIT_NOFILE
  int processes = 32;                      // RLIMIT_NPROC: processes and threads
  uint64_t file_size_bytes = 16ULL << 20;  // RLIMIT_FSIZE
};

struct SandboxSpec {
  // argv[0] is the absolute path executed; it must be covered by read_only_paths.
  std::vector<std::string> argv;
  // The whole environment of the worker ("NAME=value"); nothing of the host's is added.
  std::vector<std::string> environment = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8"};
  // Readable and executable; a directory covers everything beneath it.
  std::vector<std::string> read_only_paths;
  // Readable and writable, never executable (noexec mounts): the plugin's data directory.
  std::vector<std::string> read_write_paths;
  // TCP ports the worker may connect to; empty means no network at all.
  std::vector<uint16_t> connect_ports;
  SandboxLimits limits;
  // The worker's working directory (it need not be readable to the worker).
  std::string working_directory = "/";
  // Identity of the worker; by default nobody/nogroup (65534) when the host is root,
  // otherwise the host's own uid/gid. Its data directory must be writable by it.
  std::optional<uid_t> uid;
  std::optional<gid_t> gid;
  // New user/PID/IPC/mount/net namespaces when the kernel allows; false skips them (only
  // without read_write_paths, which need the mount namespace).
  bool use_namespaces = true;
};

// The runtime files `node -e` needs on this system, for SandboxSpec::read_only_paths: the
// binary, the shared-library directories, the loader's cache, OpenSSL's config (node refuses
// to start when it exists but is unreadable), /dev/null and /dev/urandom.
// Paths that do not exist here are left out.
std::vector<std::string> NodeRuntimeReadOnlyPaths(const std::string& node_binary = "/usr/bin/node");

// The uid and gid a worker runs as when SandboxSpec leaves them unset.
uid_t DefaultSandboxUid();
gid_t DefaultSandboxGid();

struct ExitStatus {
  bool signaled = false;
  int code = 0;    // exit code when !signaled
  int signal = 0;  // terminating signal when signaled
};

// A running sandboxed worker. Owns the ends of its stdio pipes and the child itself: the
// destructor kills the process group and reaps it, so no zombie is ever left behind.
// Move-only; one thread at a time.
class SandboxedProcess {
 public:
  SandboxedProcess(pid_t pid, UniqueFd pidfd, UniqueFd stdin_fd, UniqueFd stdout_fd,
                   UniqueFd stderr_fd, std::string layers);
  ~SandboxedProcess();
  SandboxedProcess(SandboxedProcess&&) noexcept;
  SandboxedProcess& operator=(SandboxedProcess&&) noexcept;
  SandboxedProcess(const SandboxedProcess&) = delete;
  SandboxedProcess& operator=(const SandboxedProcess&) = delete;

  pid_t pid() const { return pid_; }
  // A pidfd of the worker (O_CLOEXEC), valid as long as this object: pidfd_send_signal through
  // it never reaches another process, even once the worker is reaped (ESRCH then).
  int pidfd() const { return pidfd_.get(); }
  // Write end of the worker's stdin, read ends of its stdout and stderr (O_CLOEXEC).
  int stdin_fd() const { return stdin_.get(); }
  int stdout_fd() const { return stdout_.get(); }
  int stderr_fd() const { return stderr_.get(); }
  void CloseStdin() { stdin_.Reset(); }
  // Which layers were applied, e.g. "landlock ABI 7: ...; seccomp; namespaces: user,pid,...".
  const std::string& layers() const { return layers_; }

  // SIGKILL to the worker's process group (and, through its PID namespace, everything it
  // started). Safe to call after exit; does not reap.
  void Kill();
  // Waits up to `timeout` (InfiniteDuration blocks) for the worker to exit and reaps it;
  // DEADLINE_EXCEEDED if it is still running. After the first success returns the same status.
  absl::StatusOr<ExitStatus> Wait(absl::Duration timeout);

 private:
  void KillAndReap();

  pid_t pid_ = -1;
  UniqueFd pidfd_;
  UniqueFd stdin_;
  UniqueFd stdout_;
  UniqueFd stderr_;
  std::string layers_;
  std::optional<ExitStatus> exit_;
};

// Starts spec.argv under every layer above. FAILED_PRECONDITION "sandbox unavailable: ..."
// when the kernel lacks Landlock or seccomp; INVALID_ARGUMENT for a bad spec (empty argv,
// missing path); INTERNAL when the child could not finish its setup (the message names the
// step and errno).
absl::StatusOr<SandboxedProcess> SpawnSandboxed(const SandboxSpec& spec);

struct SelfTestOptions {
  // Namespaces are the one layer SpawnSandboxed does without when the kernel (or a container's
  // seccomp profile) refuses them; the self-test fails then unless this accepts it.
  bool accept_without_namespaces = false;
};

// Spawns a canary worker with `node_binary` and checks that it runs, cannot read
// /etc/passwd, cannot connect to a loopback port the self-test listens on, and (unless
// accepted) ran in its own namespaces. OK, or FAILED_PRECONDITION naming what did not hold.
// `layers`, when given, receives the canary's SandboxedProcess::layers() once it started.
absl::Status SandboxSelfTest(const std::string& node_binary = "/usr/bin/node",
                             const SelfTestOptions& options = {}, std::string* layers = nullptr);

}  // namespace spine::plugins::sandbox
