// Worker: one warm Node.js process running the harness (harness.js) and one plugin, inside the
// sandbox (services/plugins/sandbox), and the NDJSON exchange with it.
//
// All I/O with the process is non-blocking and bounded: Invoke polls its stdin, stdout and
// stderr together until the answer line arrives, the deadline passes or `cancel_fd` becomes
// readable, and reads at most maxOutputKB (plus room for the logs) of one answer. Anything but
// the expected answer — a line that is not it, an oversized line, stdout closed, the process
// gone — ends the worker: it is killed (its whole process group and PID namespace) and reaped
// by the thread that owns it, here or in the destructor, so it never lingers as a zombie.
//
// Not thread-safe: one owner thread calls everything.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "services/plugins/host/manifest.h"
#include "services/plugins/host/plugin_worker.h"
#include "services/plugins/host/worker_protocol.h"
#include "services/plugins/sandbox/sandbox.h"

namespace spine::plugins {

// RESOURCE_EXHAUSTED: the plugin took its data dirs over LoadedPlugin::data_quota_bytes.
inline constexpr char kPluginQuotaExceeded[] = "PLUGIN_QUOTA_EXCEEDED";

// Bytes the files and directories under `paths` take on disk (allocated blocks), each entry
// counting at least 4 KiB so that a walk is bounded by the quota it enforces; symlinks are not
// followed and paths that do not exist count 0. Stops early, returning what it has counted, as
// soon as that exceeds `stop_above`.
uint64_t DataDirUsage(const std::vector<std::string>& paths, uint64_t stop_above);

struct WorkerOptions {
  std::string node_binary = "/usr/bin/node";
  // Extra memory the kernel limit allows beyond memoryMB (node's own code, buffers, threads).
  int64_t kernel_memory_overhead_mb = 192;
  // Off only for tests that check the layers without namespaces.
  bool use_namespaces = true;
  // How often the data quota is measured while a worker with write paths lives (idle too).
  absl::Duration quota_check_interval = absl::Milliseconds(200);
};

// The data quota: a worker with write paths runs with RLIMIT_FSIZE at most what is left of
// its plugin's quota when it starts and when it is reused (IdleAndClean), and the host measures the
// data dirs (DataDirUsage) every quota_check_interval from a watcher thread, idle or not, and after
// every answer. Once they hold more than the quota — or, for a plugin already over it, more than
// the least it has been seen to hold since the worker started — the worker is killed (its whole PID
// namespace) and the invocation running on it, if any, answers RESOURCE_EXHAUSTED
// (PLUGIN_QUOTA_EXCEEDED). Overshoot is bounded by what one worker can write in one interval. There
// is no kernel quota to lean on: project quotas need root and a prepared filesystem, and the
// filesystems a user namespace may mount (tmpfs) do not persist.
class Worker final : public PluginWorker {
 public:
  // Spawns the process; it loads the plugin while the first Invoke is already on its way.
  // UNAVAILABLE (SANDBOX_UNAVAILABLE) when the kernel lacks the sandbox; INTERNAL otherwise.
  static absl::StatusOr<std::unique_ptr<Worker>> Start(const LoadedPlugin& plugin,
                                                       const WorkerOptions& options);

  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;
  // Stops the quota watcher; kills and reaps the process (its process group and PID namespace)
  // if it is still there.
  ~Worker() override;

  // PluginWorker. The deadline is compared with absl::Now(): the real clock.
  InvokeResult Invoke(absl::string_view input_json, absl::Time deadline, int cancel_fd) override;
  bool usable() const override { return usable_; }
  // Also sets its RLIMIT_FSIZE to what is left of the data quota now, and is false (the worker
  // ended) when that is more than the worker's limit and the host may not raise it.
  bool IdleAndClean() override;
  int invocations() const override { return invocations_; }
  // From /proc/<pid>/stat: utime + stime.
  absl::Duration CpuTime() const override;
  // The process's utime + stime + cutime + cstime, plus the same of every live descendant
  // (found through /proc/<pid>/task/<tid>/children). In its own PID namespace an orphan is
  // reparented to the worker, so nothing it starts escapes the count; without namespaces (tests
  // only) a double-forked orphan would.
  absl::Duration TreeCpuTime() const override;
  pid_t pid() const { return process_.pid(); }
  const std::string& layers() const { return process_.layers(); }

 private:
  Worker(sandbox::SandboxedProcess process, const LoadedPlugin& plugin);

  // Measures the data dirs; true (and the process killed) when they are over what this worker
  // may hold. Called from the watcher and the owner thread.
  bool OverQuota();
  absl::Status QuotaExceeded() const;
  // RLIMIT_FSIZE to what is left of the quota now (a warm worker's was set when it started);
  // false when it had to grow and could not (no CAP_SYS_RESOURCE): the worker must go.
  bool RefreshFileSizeLimit();
  void WatchQuota(absl::Duration interval);

  // Kills, reaps and explains why the process ended (or was ended) for `why`.
  absl::Status EndWith(absl::Status status);
  absl::Status DiagnoseExit(absl::string_view what_happened);
  void DrainStderr();
  // The answer line for `id`, or the error; at most `max_line` bytes.
  absl::StatusOr<std::string> ReadLine(absl::Time deadline, int cancel_fd, size_t max_line,
                                       std::string* pending_write);

  sandbox::SandboxedProcess process_;
  const std::string plugin_name_;
  const int32_t memory_mb_;
  const int32_t max_output_kb_;
  std::string stdout_buffer_;
  std::string stderr_head_;  // the first bytes (node's FATAL ERROR line comes first)
  std::string stderr_tail_;
  bool stderr_open_ = true;  // polled until it closes; a closed pipe would poll ready forever
  bool ready_ = false;
  bool usable_ = true;
  int invocations_ = 0;
  uint64_t next_id_ = 1;

  const std::vector<std::string> write_paths_;
  const uint64_t quota_bytes_;
  absl::Mutex quota_mu_;
  // What the data dirs may hold: the quota, or for a plugin already over it, the least they
  // have been seen to hold since this worker started.
  uint64_t quota_limit_ ABSL_GUARDED_BY(quota_mu_) = 0;
  std::atomic<uint64_t> over_quota_usage_{0};  // non-zero once the worker was killed for it
  absl::Notification stop_watching_;
  std::thread watcher_;
};

// The real workers, started with `options`.
WorkerFactory RealWorkers(WorkerOptions options);

// Builds the SandboxSpec a worker of `plugin` runs under (exposed for the tests), after
// creating its writable directories (owned by the sandbox uid; symlinks refused).
absl::StatusOr<sandbox::SandboxSpec> WorkerSandboxSpec(const LoadedPlugin& plugin,
                                                       const WorkerOptions& options);

}  // namespace spine::plugins
