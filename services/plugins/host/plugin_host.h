// PluginHost: the loaded plugins, a warm pool of sandboxed workers per plugin, a bounded fair
// queue per plugin, and a circuit breaker per plugin and user (issue 6, "The host").
//
// Each plugin has `concurrency` slots, each a thread that owns at most one worker at a time: the
// thread spawns it on demand, keeps it warm between invocations, and recycles it (kills and
// reaps it itself, so no other thread ever waits for a worker) after `recycle_after`
// invocations, after half its CPU-time limit is used, after any timeout or cancellation, after
// any crash, and when it used more than `idle_cpu_budget` of CPU while idle (a plugin that left
// a timer or a busy loop running after it answered; checked every `idle_check_interval` and
// before each reuse). A worker is never shared between plugins.
//
// Invocations beyond the free slots wait in the plugin's queue, which is fair across users (as
// the LLM RunnerPool's): each user has a FIFO sub-queue, and the user served least recently goes
// first (a user with nothing running or queued before everyone already served), so one user's
// backlog delays another user's invocation by at most one run per slot. At most `queue_limit`
// invocations wait per plugin and at most `user_queue_limit` per user and plugin, so no single
// user can fill the queue; beyond either Submit answers RESOURCE_EXHAUSTED (reason QUEUE_FULL,
// ErrorInfo metadata "retryAfterSeconds").
//
// Reload swaps the set of plugins while the host serves: a new plugin gets a pool, a removed
// one stops taking invocations, a changed one (its manifest or any file of its folder) gets a
// new pool under the same name. A pool taken out of service keeps running what it had accepted
// (running and queued invocations finish on the version that accepted them, on its warm
// workers), then its slot threads stop, killing and reaping their workers; the host joins them
// at the next Reload or when destroyed. A replaced plugin starts with a fresh circuit breaker.
//
// Deadlines are absolute Clock::Now() times (gRPC's are wall-clock); queue waits, durations and
// the breaker run on Clock::MonotonicNow(). Workers come from a WorkerFactory (the real sandboxed
// ones unless a test passes fakes).
//
// Thread-safety: every method may be called from any thread. `on_done` runs on a slot's
// thread (or Submit's caller never, since Submit's errors are returned instead), without any
// lock held; it must not block for long. The destructor fails queued invocations with
// CANCELLED, stops running ones, and joins the threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
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
#include "services/plugins/host/plugin_worker.h"
#include "services/plugins/host/worker.h"

namespace spine::plugins {

struct HostOptions {
  WorkerOptions worker{};     // for the real workers
  int queue_limit = 64;       // waiting invocations per plugin
  int user_queue_limit = 16;  // waiting invocations per user and plugin
  int recycle_after = 1000;   // invocations per worker
  // CPU time a warm worker's process tree may use between two invocations before it is
  // recycled; node idling uses next to none.
  absl::Duration idle_cpu_budget = absl::Milliseconds(200);
  absl::Duration idle_check_interval = absl::Milliseconds(500);
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
  std::string user_id{};     // the unit of fairness and of the per-user circuit breaker
  std::string input_json{};  // one JSON value
  absl::Time deadline{};     // Clock::Now() based
  // The timeout `deadline` came from (the caller's timeoutMs or the plugin's own limit), for the
  // error that names it; 0 when the RPC's deadline came first.
  int32_t timeout_ms = 0;
  std::function<void(InvokeResult, InvocationStats)> on_done{};
};

struct PluginStats {
  std::shared_ptr<const LoadedPlugin> plugin{};
  CircuitBreaker::State state = CircuitBreaker::State::kReady;
  int queued = 0;
  int running = 0;
  int warm_workers = 0;
  int64_t invocations = 0;
  int64_t crashes = 0;
  int64_t idle_recycles = 0;  // workers recycled for using CPU while idle
};

// UNAVAILABLE: the plugin is listed (FAILED) but could not be loaded; the message says why.
inline constexpr char kPluginLoadFailed[] = "PLUGIN_LOAD_FAILED";

// UNAVAILABLE (PLUGIN_LOAD_FAILED, metadata "plugin") for a call to `plugin`.
absl::Status LoadFailedError(const RefusedPlugin& plugin);

class InvocationHandle;

// What one PluginHost::Reload did, by plugin name (each list sorted).
struct ReloadReport {
  std::vector<std::string> added{};
  std::vector<std::string> replaced{};
  // Known before (loaded or refused), gone from the folder now; a loaded plugin that is now
  // refused is in `failed` only.
  std::vector<std::string> removed{};
  std::vector<std::string> unchanged{};
  std::vector<RefusedPlugin> failed{};  // every refused folder, sorted by name
};

class PluginHost {
 public:
  // Starts the slot threads (no worker yet). INVALID_ARGUMENT for duplicate names or bad options.
  // Workers come from `start_worker`, or are the real ones (options.worker) when it is empty.
  // `refused` are the plugins the loader refused: known by name, never run. One that shares a
  // name with a loaded plugin (or an earlier refused one) is dropped.
  static absl::StatusOr<std::unique_ptr<PluginHost>> Create(
      std::vector<LoadedPlugin> plugins, HostOptions options, const Clock& clock,
      WorkerFactory start_worker = {}, std::vector<RefusedPlugin> refused = {});
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;
  ~PluginHost();

  // Queues the invocation. NOT_FOUND (PLUGIN_NOT_FOUND); UNAVAILABLE (PLUGIN_LOAD_FAILED for a
  // refused plugin, SANDBOX_UNAVAILABLE while the sandbox self-test fails, PLUGIN_DISABLED while
  // the plugin's or the user's circuit is open); RESOURCE_EXHAUSTED (QUEUE_FULL: the plugin's queue
  // or the user's share of it is full). On error on_done is never called.
  absl::StatusOr<InvocationHandle> Submit(Invocation invocation);

  // Runs one invocation (as user `user_id`) and waits for it (tests, the benchmark).
  InvokeResult InvokeAndWait(const std::string& plugin, const std::string& input_json,
                             absl::Duration timeout, InvocationStats* stats = nullptr,
                             const std::string& user_id = "");

  // Set by the sandbox monitor; while false every Submit is refused.
  void SetSandboxAvailable(bool available) { sandbox_available_.store(available); }
  bool sandbox_available() const { return sandbox_available_.load(); }

  // Replaces the plugins with `loaded` (a fresh LoadPluginsDir), comparing each plugin's
  // fingerprint (manifest.h) with the one serving now; see the class comment. One reload at a
  // time; invocations carry on meanwhile. INTERNAL only when a new pool cannot be set up (no
  // eventfd), with the plugins as they were.
  absl::StatusOr<ReloadReport> Reload(LoadedPlugins loaded);

  // The plugin called `name`, or null. The pointer stays valid after a reload replaces it.
  std::shared_ptr<const LoadedPlugin> Find(const std::string& name) const;
  // The refused plugin called `name`, if any.
  std::optional<RefusedPlugin> FindRefused(const std::string& name) const;
  // Every refused plugin, sorted by name.
  std::vector<RefusedPlugin> refused() const;
  // Every plugin with its live numbers, sorted by name.
  std::vector<PluginStats> Stats() const;

 private:
  friend class InvocationHandle;
  struct Job;
  struct Slot;
  struct Pool;

  PluginHost(HostOptions options, const Clock& clock, WorkerFactory start_worker);
  // A pool for `plugin` with its slots, threads not started yet.
  absl::StatusOr<std::shared_ptr<Pool>> MakePool(LoadedPlugin plugin) const;
  void StartThreads(const std::shared_ptr<Pool>& pool);
  // Takes `pool` out of service: it finishes what it accepted, then its threads end.
  static void Retire(Pool& pool);
  // Joins the threads of retired pools that have finished, and forgets those pools.
  void JoinRetired() ABSL_LOCKS_EXCLUDED(mu_);
  // Submit, to one pool. `*retired` when the pool was taken out of service meanwhile (nothing
  // done; `invocation` untouched).
  absl::StatusOr<InvocationHandle> SubmitTo(const std::shared_ptr<Pool>& pool,
                                            Invocation& invocation, bool* retired);
  void Cancel(Pool& pool, uint64_t id);
  void SlotLoop(Pool& pool, Slot& slot);
  // Runs `job` on `slot`'s worker (spawning one if needed); called without any lock.
  InvokeResult Run(Pool& pool, Slot& slot, const Job& job, InvocationStats* stats);
  // On the slot's thread, without any lock: recycles its worker if it is no longer fit to be
  // reused (tainted, or busy while idle). Returns whether it did.
  bool RecycleIfUnfit(Pool& pool, Slot& slot);

  const HostOptions options_;
  const Clock& clock_;
  const WorkerFactory start_worker_;
  std::atomic<bool> sandbox_available_{true};
  absl::Mutex reload_mu_;  // one Reload at a time; taken before mu_
  // Never held together with a pool's mutex: pools are looked up here, then used unlocked.
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Pool>> pools_ ABSL_GUARDED_BY(mu_);
  std::vector<RefusedPlugin> refused_ ABSL_GUARDED_BY(mu_);  // sorted by name
  // Out of service, their threads not joined yet.
  std::vector<std::shared_ptr<Pool>> retired_ ABSL_GUARDED_BY(mu_);
};

// A submitted invocation. Copyable; must not outlive its host.
class InvocationHandle {
 public:
  // A queued invocation leaves the queue (on_done with CANCELLED); a running one has its worker
  // stopped (on_done with CANCELLED). No-op once it has ended.
  void Cancel() const;

 private:
  friend class PluginHost;
  InvocationHandle(PluginHost* host, std::weak_ptr<PluginHost::Pool> pool, uint64_t id)
      : host_(host), pool_(std::move(pool)), id_(id) {}
  PluginHost* host_;
  std::weak_ptr<PluginHost::Pool> pool_;  // the pool that accepted it, even once retired
  uint64_t id_;
};

}  // namespace spine::plugins
