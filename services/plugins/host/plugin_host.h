// PluginHost: the loaded plugins, a warm pool of sandboxed workers per plugin, a bounded queue
// per plugin, and a circuit breaker per plugin (issue 6, "The host").
//
// Each plugin has `concurrency` slots, each a thread that owns at most one Worker at a time: the
// thread spawns it on demand, keeps it warm between invocations, and recycles it (kills and
// reaps it itself, so no other thread ever waits for a worker) after `recycle_after`
// invocations, after half its CPU-time limit is used, after any timeout or cancellation, and
// after any crash. A worker is never shared between plugins. Invocations beyond the free slots
// wait in the plugin's FIFO queue of at most `queue_limit`; beyond that Submit answers
// RESOURCE_EXHAUSTED (reason QUEUE_FULL, ErrorInfo metadata "retryAfterSeconds").
//
// Deadlines are absolute wall-clock times (absl::Now(), as gRPC's are); the breaker and the
// statistics run on the injected Clock.
//
// Thread-safety: every method may be called from any thread. `on_done` runs on a slot's
// thread (or Submit's caller never, since Submit's errors are returned instead), without any
// lock held; it must not block for long. The destructor fails queued invocations with
// CANCELLED, stops running ones, and joins the threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "services/plugins/host/circuit_breaker.h"
#include "services/plugins/host/manifest.h"
#include "services/plugins/host/worker.h"

namespace spine::plugins {

struct HostOptions {
  WorkerOptions worker{};
  int queue_limit = 64;      // waiting invocations per plugin
  int recycle_after = 1000;  // invocations per worker
  CircuitBreaker::Options breaker{};
};

// What happened around one invocation, for the reply and the audit hook.
struct InvocationStats {
  absl::Duration queue_wait = absl::ZeroDuration();
  absl::Duration run_duration = absl::ZeroDuration();  // zero if it never reached a worker
  bool cold_start = false;                             // a worker was spawned for it
};

struct Invocation {
  std::string plugin{};
  std::string input_json{};  // one JSON value
  absl::Time deadline{};     // absl::Now() based
  std::function<void(InvokeResult, InvocationStats)> on_done{};
};

struct PluginStats {
  const LoadedPlugin* plugin = nullptr;
  CircuitBreaker::State state = CircuitBreaker::State::kReady;
  int queued = 0;
  int running = 0;
  int warm_workers = 0;
  int64_t invocations = 0;
  int64_t crashes = 0;
};

class PluginHost;

// A submitted invocation. Copyable; must not outlive its host.
class InvocationHandle {
 public:
  // A queued invocation leaves the queue (on_done with CANCELLED); a running one has its worker
  // stopped (on_done with CANCELLED). No-op once it has ended.
  void Cancel() const;

 private:
  friend class PluginHost;
  InvocationHandle(PluginHost* host, size_t plugin, uint64_t id)
      : host_(host), plugin_(plugin), id_(id) {}
  PluginHost* host_;
  size_t plugin_;
  uint64_t id_;
};

class PluginHost {
 public:
  // Starts the slot threads (no worker yet). INVALID_ARGUMENT for duplicate names or bad options.
  static absl::StatusOr<std::unique_ptr<PluginHost>> Create(std::vector<LoadedPlugin> plugins,
                                                            HostOptions options,
                                                            const Clock& clock);
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;
  ~PluginHost();

  // Queues the invocation. NOT_FOUND (PLUGIN_NOT_FOUND); UNAVAILABLE (SANDBOX_UNAVAILABLE while
  // the sandbox self-test fails, PLUGIN_DISABLED while the circuit is open); RESOURCE_EXHAUSTED
  // (QUEUE_FULL). On error on_done is never called.
  absl::StatusOr<InvocationHandle> Submit(Invocation invocation);

  // Runs one invocation and waits for it (tests, the benchmark).
  InvokeResult InvokeAndWait(const std::string& plugin, const std::string& input_json,
                             absl::Duration timeout, InvocationStats* stats = nullptr);

  // Set by the sandbox monitor; while false every Submit is refused.
  void SetSandboxAvailable(bool available) { sandbox_available_.store(available); }
  bool sandbox_available() const { return sandbox_available_.load(); }

  // The plugin called `name`, or null.
  const LoadedPlugin* Find(const std::string& name) const;
  // Every plugin with its live numbers, sorted by name.
  std::vector<PluginStats> Stats() const;

 private:
  friend class InvocationHandle;
  struct Job;
  struct Slot;
  struct Pool;

  PluginHost(HostOptions options, const Clock& clock);
  void Cancel(size_t plugin, uint64_t id);
  void SlotLoop(Pool& pool, Slot& slot);
  // Runs `job` on `slot`'s worker (spawning one if needed); called without any lock.
  InvokeResult Run(Pool& pool, Slot& slot, const Job& job, InvocationStats* stats);

  const HostOptions options_;
  const Clock& clock_;
  std::atomic<bool> sandbox_available_{true};
  std::vector<std::unique_ptr<Pool>> pools_;  // sorted by name; fixed after Create
};

}  // namespace spine::plugins
