#include "services/plugins/host/worker.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "libs/core/log.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "services/plugins/host/harness_source.h"

namespace spine::plugins {
namespace {

constexpr size_t kStderrTail = 8192;
constexpr size_t kStderrHead = 512;
constexpr size_t kReadChunk = 65536;
// Room in an answer line beyond the output itself: the id and the logs (harness.js bounds them
// to 16 KiB of text, which JSON escaping can grow several-fold).
constexpr size_t kAnswerOverhead = size_t{128} * 1024;
constexpr uint64_t kMinEntryBytes = 4096;  // what an empty file or directory costs at least
absl::Status Reason(absl::Status status, absl::string_view reason) {
  return rpc::WithErrorInfo(std::move(status), reason);
}

bool SetNonBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

// Creates `path` (and its parents) for the sandbox's uid, refusing any symlink on the way.
absl::Status PrepareWriteDir(const std::string& path, uid_t uid, gid_t gid) {
  std::error_code error;
  std::filesystem::create_directories(path, error);
  if (error)
    return absl::InternalError(absl::StrCat("creating a plugin data directory: ", error.message()));
  std::array<char, PATH_MAX> resolved{};
  if (realpath(path.c_str(), resolved.data()) == nullptr || path != resolved.data()) {
    return absl::FailedPreconditionError(
        "a plugin data directory is, or passes through, a symlink; refusing it");
  }
  struct stat st {};
  if (lstat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError("a plugin data directory is not a directory");
  }
  if ((st.st_uid != uid || st.st_gid != gid) && chown(path.c_str(), uid, gid) != 0) {
    return absl::InternalError(
        absl::StrCat("chown of a plugin data directory: ", std::strerror(errno)));
  }
  chmod(path.c_str(), 0700);
  return absl::OkStatus();
}

// What one entry costs: its allocated blocks, at least kMinEntryBytes.
uint64_t EntryBytes(const struct stat& st) {
  return std::max<uint64_t>(static_cast<uint64_t>(st.st_blocks) * 512, kMinEntryBytes);
}

}  // namespace

uint64_t DataDirUsage(const std::vector<std::string>& paths, uint64_t stop_above) {
  uint64_t total = 0;
  // Directories still to list. The plugin may rename and replace entries while this runs:
  // nothing is followed (O_NOFOLLOW, AT_SYMLINK_NOFOLLOW), so a swapped-in symlink is counted
  // as itself, and the early stop bounds the walk whatever it finds.
  std::vector<std::string> pending;
  for (const std::string& path : paths) {
    struct stat st {};
    if (lstat(path.c_str(), &st) != 0) continue;
    total += EntryBytes(st);
    if (S_ISDIR(st.st_mode)) pending.push_back(path);
  }
  while (!pending.empty() && total <= stop_above) {
    const std::string dir = std::move(pending.back());
    pending.pop_back();
    const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    DIR* listing = fdopendir(fd);
    if (listing == nullptr) {
      close(fd);
      continue;
    }
    while (const dirent* entry = readdir(listing)) {
      const absl::string_view name(entry->d_name);
      if (name == "." || name == "..") continue;
      struct stat st {};
      if (fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      total += EntryBytes(st);
      if (S_ISDIR(st.st_mode)) pending.push_back(absl::StrCat(dir, "/", name));
      if (total > stop_above) break;
    }
    closedir(listing);
  }
  return total;
}

absl::StatusOr<sandbox::SandboxSpec> WorkerSandboxSpec(const LoadedPlugin& plugin,
                                                       const WorkerOptions& options) {
  sandbox::SandboxSpec spec;
  const PluginLimitValues& limits = plugin.limits;
  spec.argv = {options.node_binary, absl::StrCat("--max-old-space-size=", limits.memory_mb), "-e",
               kHarnessJs, plugin.entry_path};
  spec.read_only_paths = sandbox::NodeRuntimeReadOnlyPaths(options.node_binary);
  for (const std::string& path : plugin.read_paths) spec.read_only_paths.push_back(path);
  const uid_t uid = sandbox::DefaultSandboxUid();
  const gid_t gid = sandbox::DefaultSandboxGid();
  for (const std::string& path : plugin.write_paths) {
    SPINE_RETURN_IF_ERROR(PrepareWriteDir(path, uid, gid));
    spec.read_write_paths.push_back(path);
  }
  if (!plugin.write_paths.empty()) {
    // No file may grow past what is left of the quota (EFBIG); the watcher bounds the rest.
    const uint64_t used = DataDirUsage(plugin.write_paths, plugin.data_quota_bytes);
    const uint64_t left = used >= plugin.data_quota_bytes ? 0 : plugin.data_quota_bytes - used;
    spec.limits.file_size_bytes = std::min(spec.limits.file_size_bytes, left);
  }
  spec.connect_ports = plugin.connect_ports;
  spec.limits.cpu_seconds = limits.cpu_seconds;
  spec.limits.memory_bytes =
      static_cast<uint64_t>(limits.memory_mb + options.kernel_memory_overhead_mb) << 20;
  spec.working_directory = plugin.folder;
  spec.use_namespaces = options.use_namespaces;
  return spec;
}

absl::StatusOr<std::unique_ptr<Worker>> Worker::Start(const LoadedPlugin& plugin,
                                                      const WorkerOptions& options) {
  absl::StatusOr<sandbox::SandboxSpec> spec = WorkerSandboxSpec(plugin, options);
  if (!spec.ok()) {
    // The host's own setup failed (its data dir), not the caller's request.
    return absl::InternalError(absl::StrCat(
        "preparing a worker for plugin '", plugin.manifest.name(), "': ", spec.status().message()));
  }
  absl::StatusOr<sandbox::SandboxedProcess> process = sandbox::SpawnSandboxed(*spec);
  if (!process.ok()) {
    if (absl::StartsWith(process.status().message(), "sandbox unavailable")) {
      return Reason(absl::UnavailableError(process.status().message()), kSandboxUnavailable);
    }
    return absl::InternalError(absl::StrCat("starting a worker for plugin '",
                                            plugin.manifest.name(),
                                            "': ", process.status().message()));
  }
  if (!SetNonBlocking(process->stdin_fd()) || !SetNonBlocking(process->stdout_fd()) ||
      !SetNonBlocking(process->stderr_fd())) {
    return absl::InternalError(absl::StrCat("fcntl: ", std::strerror(errno)));
  }
  std::unique_ptr<Worker> worker(new Worker(*std::move(process), plugin));
  if (!worker->write_paths_.empty()) {
    {
      absl::MutexLock lock(&worker->quota_mu_);
      worker->quota_limit_ =
          std::max(worker->quota_bytes_, DataDirUsage(worker->write_paths_, UINT64_MAX));
    }
    worker->watcher_ = std::thread([raw = worker.get(), interval = options.quota_check_interval] {
      raw->WatchQuota(interval);
    });
  }
  return worker;
}

Worker::Worker(sandbox::SandboxedProcess process, const LoadedPlugin& plugin)
    : process_(std::move(process)),
      plugin_name_(plugin.manifest.name()),
      memory_mb_(plugin.limits.memory_mb),
      max_output_kb_(plugin.limits.max_output_kb),
      write_paths_(plugin.write_paths),
      quota_bytes_(plugin.data_quota_bytes) {}

Worker::~Worker() {
  stop_watching_.Notify();
  if (watcher_.joinable()) watcher_.join();
  // SandboxedProcess kills and reaps
}

void Worker::WatchQuota(absl::Duration interval) {
  while (!stop_watching_.WaitForNotificationWithTimeout(interval)) {
    if (OverQuota()) return;
  }
}

bool Worker::OverQuota() {
  if (write_paths_.empty()) return false;
  absl::MutexLock lock(&quota_mu_);
  if (over_quota_usage_.load() != 0) return true;
  const uint64_t usage = DataDirUsage(write_paths_, quota_limit_);
  if (usage <= quota_limit_) {
    quota_limit_ = std::max(quota_bytes_, usage);  // deleted below it: no growing back
    return false;
  }
  over_quota_usage_.store(usage);
  // SIGKILL to PID 1 of its namespace ends everything it started. Through the pidfd, so this
  // thread never signals a reaped pid's successor; the owner thread reaps.
  syscall(SYS_pidfd_send_signal, process_.pidfd(), SIGKILL, nullptr, 0);
  log::Warn("plugin worker stopped: over its data quota",
            {{"plugin", plugin_name_},
             {"usage_bytes", absl::StrCat(usage)},
             {"quota_bytes", absl::StrCat(quota_bytes_)}});
  return true;
}

bool Worker::RefreshFileSizeLimit() {
  const uint64_t used = DataDirUsage(write_paths_, quota_bytes_);
  const uint64_t left = used >= quota_bytes_ ? 0 : quota_bytes_ - used;
  const uint64_t limit = std::min(sandbox::SandboxLimits{}.file_size_bytes, left);
  const rlimit value{limit, limit};
  rlimit old{};
  // This thread owns the process and has not reaped it, so the pid is still the worker's.
  // Lowering the hard limit always works; raising it needs CAP_SYS_RESOURCE, which the host
  // may lack (even as root in a container): then only a fresh worker gets the room back.
  if (prlimit(process_.pid(), RLIMIT_FSIZE, nullptr, &old) != 0) return false;
  return prlimit(process_.pid(), RLIMIT_FSIZE, &value, nullptr) == 0 || old.rlim_max >= limit;
}

absl::Status Worker::QuotaExceeded() const {
  return rpc::WithErrorInfo(
      absl::ResourceExhaustedError(
          absl::StrCat("plugin '", plugin_name_, "' took its data directory to at least ",
                       over_quota_usage_.load(), " bytes, over its quota of ", quota_bytes_,
                       " bytes (SPINE_PLUGINS_DATA_QUOTA_MB); its worker was stopped")),
      kPluginQuotaExceeded, {{"plugin", plugin_name_}});
}

namespace {

// The fields of /proc/<pid>/stat after the command name (field 3, the state, comes first), or
// empty when the process is gone.
std::vector<std::string> StatFields(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::stringstream contents;
  contents << in.rdbuf();
  const std::string stat = contents.str();
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return {};
  return absl::StrSplit(stat.substr(close + 2), ' ');
}

// Clock ticks of fields `first`..`last` (1-based, as proc(5) numbers them) of `fields`.
double Ticks(const std::vector<std::string>& fields, size_t first, size_t last) {
  double sum = 0;
  for (size_t field = first; field <= last; ++field) {
    double value = 0;
    if (field - 3 < fields.size() && absl::SimpleAtod(fields[field - 3], &value)) sum += value;
  }
  return sum;
}

absl::Duration FromTicks(double ticks) {
  const long per_second = sysconf(_SC_CLK_TCK);
  return absl::Seconds(ticks / static_cast<double>(per_second > 0 ? per_second : 100));
}

// The children of every thread of `pid` (a thread may have started some).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> children;
  std::error_code error;
  const std::filesystem::path tasks = absl::StrCat("/proc/", pid, "/task");
  for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
    std::ifstream in(task.path() / "children");
    int64_t child = 0;
    while (in >> child) children.push_back(static_cast<pid_t>(child));
  }
  return children;
}

}  // namespace

absl::Duration Worker::CpuTime() const {
  return FromTicks(Ticks(StatFields(process_.pid()), 14, 15));  // utime, stime
}

absl::Duration Worker::TreeCpuTime() const {
  // utime, stime, cutime, cstime of each: the dead children a process reaped count in its own.
  // Bounded, so a process tree that keeps changing cannot keep this loop going.
  constexpr size_t kMostProcesses = 4096;
  double ticks = 0;
  std::vector<pid_t> pending = {process_.pid()};
  for (size_t seen = 0; !pending.empty() && seen < kMostProcesses; ++seen) {
    const pid_t pid = pending.back();
    pending.pop_back();
    ticks += Ticks(StatFields(pid), 14, 17);
    for (const pid_t child : ChildrenOf(pid)) pending.push_back(child);
  }
  return FromTicks(ticks);
}

WorkerFactory RealWorkers(WorkerOptions options) {
  return [options = std::move(options)](
             const LoadedPlugin& plugin) -> absl::StatusOr<std::unique_ptr<PluginWorker>> {
    absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(plugin, options);
    if (!worker.ok()) return worker.status();
    return std::unique_ptr<PluginWorker>(*std::move(worker));
  };
}

void Worker::DrainStderr() {
  if (!stderr_open_) return;
  std::array<char, 4096> buf{};
  for (;;) {
    const ssize_t n = read(process_.stderr_fd(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (n < 0 && errno != EAGAIN)) stderr_open_ = false;
    if (n <= 0) return;
    if (stderr_head_.size() < kStderrHead) {
      stderr_head_.append(buf.data(),
                          std::min(static_cast<size_t>(n), kStderrHead - stderr_head_.size()));
    }
    stderr_tail_.append(buf.data(), static_cast<size_t>(n));
    if (stderr_tail_.size() > kStderrTail) stderr_tail_.erase(0, stderr_tail_.size() - kStderrTail);
  }
}

absl::Status Worker::EndWith(absl::Status status) {
  usable_ = false;
  process_.Kill();
  (void)process_.Wait(absl::InfiniteDuration());
  return status;
}

absl::Status Worker::DiagnoseExit(absl::string_view what_happened) {
  usable_ = false;
  // It closed its output; give it a moment to finish exiting so the cause is its own.
  absl::StatusOr<sandbox::ExitStatus> exit = process_.Wait(absl::Seconds(1));
  if (over_quota_usage_.load() != 0) {
    if (!exit.ok()) process_.Kill();
    (void)process_.Wait(absl::InfiniteDuration());
    return QuotaExceeded();
  }
  bool stopped_by_host = false;
  if (!exit.ok()) {
    process_.Kill();
    exit = process_.Wait(absl::InfiniteDuration());
    stopped_by_host = true;
  }
  DrainStderr();
  if (!stderr_tail_.empty()) {
    // For the operator: node's first and last words (the plugin's own text, bounded, cleaned).
    const absl::string_view tail(stderr_tail_);
    log::Warn(
        "plugin worker ended",
        {{"plugin", plugin_name_},
         {"stderr_head", CleanText(stderr_head_, kStderrHead)},
         {"stderr_tail",
          CleanText(tail.substr(tail.size() - std::min(tail.size(), kStderrHead)), kStderrHead)}});
  }
  if (!exit.ok()) return Crashed(plugin_name_, what_happened);
  const bool out_of_memory = absl::StrContains(stderr_head_, "out of memory") ||
                             absl::StrContains(stderr_head_, "Reached heap limit") ||
                             absl::StrContains(stderr_tail_, "out of memory") ||
                             absl::StrContains(stderr_tail_, "Reached heap limit");
  if (stopped_by_host) {
    return Crashed(plugin_name_, absl::StrCat(what_happened, " and was stopped"));
  }
  if (exit->signaled && exit->signal == SIGSYS) {
    return Reason(absl::PermissionDeniedError(absl::StrCat(
                      "plugin '", plugin_name_, "' was stopped for a forbidden system call")),
                  kSandboxViolation);
  }
  // Stray output before the end (a flood that ran it out of memory, say) is the first fault.
  if (!stdout_buffer_.empty() && !absl::StartsWith(stdout_buffer_, R"({"id":)")) {
    usable_ = false;
    return BadOutput(plugin_name_,
                     absl::StrCat("it printed ", stdout_buffer_.size(),
                                  " bytes that are not its answer, then ", what_happened));
  }
  if (out_of_memory) {
    return Crashed(plugin_name_, absl::StrCat("ran out of memory (memoryMB ", memory_mb_, ")"));
  }
  if (exit->signaled && exit->signal == SIGXCPU) {
    return Crashed(plugin_name_, "used up its CPU time limit");
  }
  if (exit->signaled) {
    return Crashed(plugin_name_, absl::StrCat("killed by signal ", exit->signal));
  }
  return Crashed(plugin_name_, absl::StrCat("exited with code ", exit->code, " before answering"));
}

absl::StatusOr<std::string> Worker::ReadLine(absl::Time deadline, int cancel_fd, size_t max_line,
                                             std::string* pending_write) {
  for (;;) {
    const size_t newline = stdout_buffer_.find('\n');
    if (newline != std::string::npos) {
      std::string line = stdout_buffer_.substr(0, newline);
      stdout_buffer_.erase(0, newline + 1);
      return line;
    }
    if (stdout_buffer_.size() > max_line) {
      return EndWith(
          BadOutput(plugin_name_, absl::StrCat("an answer over ", max_line / 1024,
                                               " KiB (maxOutputKB ", max_output_kb_, ")")));
    }
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return EndWith(absl::DeadlineExceededError(
          absl::StrCat("plugin '", plugin_name_, "' did not answer in time; it was stopped")));
    }
    std::array<pollfd, 4> fds{};
    size_t count = 0;
    fds[count++] = pollfd{process_.stdout_fd(), POLLIN, 0};
    const size_t err_at = count;
    // A negative fd is skipped by poll.
    fds[count++] = pollfd{stderr_open_ ? process_.stderr_fd() : -1, POLLIN, 0};
    size_t in_at = fds.size();
    if (!pending_write->empty()) {
      in_at = count;
      fds[count++] = pollfd{process_.stdin_fd(), POLLOUT, 0};
    }
    size_t cancel_at = fds.size();
    if (cancel_fd >= 0) {
      cancel_at = count;
      fds[count++] = pollfd{cancel_fd, POLLIN, 0};
    }
    // Rounded up, so the loop does not spin through the last partial millisecond.
    const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
    const int rc = poll(fds.data(), count, static_cast<int>(std::min<int64_t>(ms, INT_MAX)));
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return EndWith(absl::InternalError(absl::StrCat("poll: ", std::strerror(errno))));
    if (cancel_at < count && fds[cancel_at].revents != 0) {
      return EndWith(absl::CancelledError("the invocation was cancelled; the worker was stopped"));
    }
    if (fds[err_at].revents != 0) DrainStderr();
    if (in_at < count && fds[in_at].revents != 0) {
      const ssize_t n = write(process_.stdin_fd(), pending_write->data(), pending_write->size());
      if (n > 0) {
        pending_write->erase(0, static_cast<size_t>(n));
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        return DiagnoseExit("stopped reading its input");
      }
    }
    if (fds[0].revents != 0) {
      std::array<char, kReadChunk> buf{};
      const ssize_t n = read(process_.stdout_fd(), buf.data(), buf.size());
      if (n > 0) {
        stdout_buffer_.append(buf.data(), static_cast<size_t>(n));
      } else if (n == 0) {
        return DiagnoseExit("closed its output");
      } else if (errno != EAGAIN && errno != EINTR) {
        return DiagnoseExit("broke its output");
      }
    }
  }
}

bool Worker::IdleAndClean() {
  if (!usable_) return false;
  if (!ready_) {
    // A fresh worker announces itself ({"ready":true}) before its first invocation: take that
    // line here, so a worker started ahead of demand does not look like one with stray output.
    constexpr size_t kMostHello = size_t{16} * 1024;
    std::array<char, 4096> buf{};
    for (;;) {
      const ssize_t n = read(process_.stdout_fd(), buf.data(), buf.size());
      if (n > 0) {
        stdout_buffer_.append(buf.data(), static_cast<size_t>(n));
        if (stdout_buffer_.size() <= kMostHello) continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n == 0 || (n < 0 && errno != EAGAIN) || stdout_buffer_.size() > kMostHello) {
        (void)EndWith(absl::OkStatus());  // gone, or more than a hello
        return false;
      }
      break;
    }
    const size_t newline = stdout_buffer_.find('\n');
    if (newline == std::string::npos) return true;  // still starting
    if (!ParseHello(plugin_name_, stdout_buffer_.substr(0, newline)).ok()) {
      (void)EndWith(absl::OkStatus());
      return false;
    }
    stdout_buffer_.erase(0, newline + 1);
    ready_ = true;
  }
  pollfd pfd{process_.stdout_fd(), POLLIN, 0};
  // Anything readable between invocations (stray output or end of file) taints the worker.
  if (!stdout_buffer_.empty() || poll(&pfd, 1, 0) != 0) {
    (void)EndWith(absl::OkStatus());
    return false;
  }
  DrainStderr();
  if (!write_paths_.empty() && !RefreshFileSizeLimit()) {
    (void)EndWith(absl::OkStatus());
    return false;
  }
  return true;
}

InvokeResult Worker::Invoke(absl::string_view input_json, absl::Time deadline, int cancel_fd) {
  InvokeResult result;
  if (!usable_) {
    result.output = absl::InternalError("the worker is no longer usable");
    return result;
  }
  ++invocations_;
  const uint64_t id = next_id_++;
  std::string pending = absl::StrCat(R"({"id":)", id, R"(,"input":)", input_json, "}\n");
  const size_t max_output = static_cast<size_t>(max_output_kb_) * 1024;

  if (!ready_) {
    absl::StatusOr<std::string> line = ReadLine(deadline, cancel_fd, size_t{16} * 1024, &pending);
    if (!line.ok()) {
      result.output = line.status();
      return result;
    }
    if (absl::Status hello = ParseHello(plugin_name_, *line); !hello.ok()) {
      result.output = EndWith(std::move(hello));
      return result;
    }
    ready_ = true;
  }

  absl::StatusOr<std::string> line =
      ReadLine(deadline, cancel_fd, max_output + kAnswerOverhead, &pending);
  if (!line.ok()) {
    result.output = line.status();
    return result;
  }
  if (!pending.empty()) {
    result.output = EndWith(BadOutput(plugin_name_, "it answered before reading its input"));
    return result;
  }
  Answer answer = ParseAnswer(plugin_name_, *line, id, max_output);
  if (!answer.worker_ok) {
    result.output = EndWith(answer.output.status());
    return result;
  }
  // A burst written between two of the watcher's checks still costs this invocation.
  if (OverQuota()) {
    result.output = EndWith(QuotaExceeded());
    result.logs = std::move(answer.logs);
    return result;
  }
  result.output = std::move(answer.output);
  result.logs = std::move(answer.logs);
  return result;
}

}  // namespace spine::plugins
