// PluginWorker: what the PluginHost needs of one warm worker. Worker (worker.h) is the real one,
// a sandboxed Node.js process; tests/unit/services/plugins/fake_worker.h is the fake that lets
// the host's queue, cancel, breaker and recycling logic be tested instantly.
//
// Not thread-safe: the slot thread that owns a worker calls everything.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "services/plugins/host/manifest.h"

namespace spine::plugins {

struct InvokeResult {
  // The output as JSON text, or the error: UNKNOWN with reason PLUGIN_ERROR, PLUGIN_CRASHED,
  // PLUGIN_BAD_OUTPUT or SANDBOX_VIOLATION; DEADLINE_EXCEEDED; CANCELLED; UNAVAILABLE
  // (SANDBOX_UNAVAILABLE) or INTERNAL when no worker could be started.
  absl::StatusOr<std::string> output = absl::UnknownError("not run");
  std::vector<std::string> logs{};
};

class PluginWorker {
 public:
  // Kills and reaps the worker (its whole process tree) if it is still there.
  virtual ~PluginWorker() = default;

  // Sends `input_json` (one JSON value) and waits for the answer until `deadline` (absolute,
  // Clock::Now() based; then DEADLINE_EXCEEDED and the worker is killed) or until `cancel_fd`
  // (-1: none) is readable (CANCELLED, killed too).
  virtual InvokeResult Invoke(absl::string_view input_json, absl::Time deadline, int cancel_fd) = 0;
  // False once the worker failed in any way; it must then be dropped.
  virtual bool usable() const = 0;
  // Whether it has idled cleanly: no stray output and still running. Checked before reuse.
  virtual bool IdleAndClean() = 0;
  // Invocations sent to it so far.
  virtual int invocations() const = 0;
  // CPU time its main process has used so far (what its RLIMIT_CPU counts).
  virtual absl::Duration CpuTime() const = 0;
  // CPU time its whole process tree has used so far: the main process, every live descendant
  // and every reaped one. Rises between invocations only if the plugin left work running.
  virtual absl::Duration TreeCpuTime() const = 0;
};

// Starts a worker for `plugin`: UNAVAILABLE (SANDBOX_UNAVAILABLE) when the kernel lacks the
// sandbox, INTERNAL otherwise.
using WorkerFactory =
    std::function<absl::StatusOr<std::unique_ptr<PluginWorker>>(const LoadedPlugin& plugin)>;

}  // namespace spine::plugins
