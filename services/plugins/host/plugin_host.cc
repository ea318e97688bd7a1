#include "services/plugins/host/plugin_host.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstring>
#include <deque>
#include <optional>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/rpc/error_info.h"
#include "services/plugins/sandbox/unique_fd.h"

namespace spine::plugins {

struct PluginHost::Job {
  uint64_t id = 0;
  Invocation invocation{};
  absl::Time queued_at{};      // MonotonicNow
  bool breaker_trial = false;  // the half-open circuit's trial invocation
};

struct PluginHost::Slot {
  std::unique_ptr<Worker> worker;  // touched only by this slot's thread
  sandbox::UniqueFd cancel;        // an eventfd: readable means "stop the running invocation"
  uint64_t running_id = 0;         // guarded by the pool's mu
  bool has_worker = false;         // guarded by the pool's mu; for Stats
  std::thread thread;
};

struct PluginHost::Pool {
  Pool(LoadedPlugin loaded, const CircuitBreaker::Options& breaker_options, const Clock& clock)
      : plugin(std::move(loaded)), breaker(breaker_options, clock) {}

  const LoadedPlugin plugin;
  CircuitBreaker breaker;
  absl::Mutex mu;
  absl::CondVar work;
  std::deque<Job> queue ABSL_GUARDED_BY(mu);
  std::vector<std::unique_ptr<Slot>> slots;  // fixed after Create
  int running ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  int64_t invocations ABSL_GUARDED_BY(mu) = 0;
  int64_t crashes ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
  // Moving average of a run, for the queue-full retry hint.
  absl::Duration average_run ABSL_GUARDED_BY(mu) = absl::Milliseconds(100);
};

namespace {

std::optional<std::string> ReasonOf(const absl::Status& status) {
  if (std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status)) return info->reason();
  return std::nullopt;
}

// What an invocation's end means to the breaker: a dead worker is a crash, a plugin's own
// error is an answer like any other, and a timeout or cancel says nothing about the plugin.
CircuitBreaker::Outcome OutcomeOf(const absl::Status& status, bool worker_died) {
  if (status.ok()) return CircuitBreaker::Outcome::kSuccess;
  if (status.code() != absl::StatusCode::kUnknown) return CircuitBreaker::Outcome::kNeither;
  const std::optional<std::string> reason = ReasonOf(status);
  if (reason == kPluginError && !worker_died) return CircuitBreaker::Outcome::kSuccess;
  if (reason == kPluginBadOutput && !worker_died) return CircuitBreaker::Outcome::kSuccess;
  return CircuitBreaker::Outcome::kCrash;
}

void DrainEventFd(int fd) {
  uint64_t value = 0;
  while (read(fd, &value, sizeof(value)) > 0) {
  }
}

}  // namespace

void InvocationHandle::Cancel() const { host_->Cancel(plugin_, id_); }

PluginHost::PluginHost(HostOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

absl::StatusOr<std::unique_ptr<PluginHost>> PluginHost::Create(std::vector<LoadedPlugin> plugins,
                                                               HostOptions options,
                                                               const Clock& clock) {
  if (options.queue_limit < 0 || options.recycle_after < 1 || options.breaker.crashes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("host options: queue_limit ", options.queue_limit, ", recycle_after ",
                     options.recycle_after, ", breaker crashes ", options.breaker.crashes));
  }
  std::sort(plugins.begin(), plugins.end(), [](const LoadedPlugin& a, const LoadedPlugin& b) {
    return a.manifest.name() < b.manifest.name();
  });
  for (size_t i = 1; i < plugins.size(); ++i) {
    if (plugins[i].manifest.name() == plugins[i - 1].manifest.name()) {
      return absl::InvalidArgumentError(
          absl::StrCat("two plugins are called '", plugins[i].manifest.name(), "'"));
    }
  }
  std::unique_ptr<PluginHost> host(new PluginHost(std::move(options), clock));
  for (LoadedPlugin& plugin : plugins) {
    auto pool = std::make_unique<Pool>(std::move(plugin), host->options_.breaker, clock);
    for (int i = 0; i < pool->plugin.limits.concurrency; ++i) {
      auto slot = std::make_unique<Slot>();
      slot->cancel = sandbox::UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
      if (!slot->cancel.valid()) {
        return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
      }
      pool->slots.push_back(std::move(slot));
    }
    host->pools_.push_back(std::move(pool));
  }
  // Threads last, so an early return above leaves none to join.
  for (const std::unique_ptr<Pool>& pool : host->pools_) {
    for (const std::unique_ptr<Slot>& slot : pool->slots) {
      slot->thread =
          std::thread([raw = host.get(), &p = *pool, &s = *slot] { raw->SlotLoop(p, s); });
    }
  }
  return host;
}

PluginHost::~PluginHost() {
  for (const std::unique_ptr<Pool>& pool : pools_) {
    std::deque<Job> dropped;
    {
      absl::MutexLock lock(&pool->mu);
      pool->stopping = true;
      dropped.swap(pool->queue);
      for (const std::unique_ptr<Slot>& slot : pool->slots) {
        const uint64_t one = 1;
        if (slot->running_id != 0) (void)!write(slot->cancel.get(), &one, sizeof(one));
      }
      pool->work.SignalAll();
    }
    for (Job& job : dropped) {
      job.invocation.on_done(InvokeResult{.output = absl::CancelledError("the host is stopping")},
                             InvocationStats{});
    }
  }
  for (const std::unique_ptr<Pool>& pool : pools_) {
    for (const std::unique_ptr<Slot>& slot : pool->slots) {
      if (slot->thread.joinable()) slot->thread.join();
    }
  }
}

const LoadedPlugin* PluginHost::Find(const std::string& name) const {
  for (const std::unique_ptr<Pool>& pool : pools_) {
    if (pool->plugin.manifest.name() == name) return &pool->plugin;
  }
  return nullptr;
}

std::vector<PluginStats> PluginHost::Stats() const {
  std::vector<PluginStats> stats;
  stats.reserve(pools_.size());
  for (const std::unique_ptr<Pool>& pool : pools_) {
    PluginStats s;
    s.plugin = &pool->plugin;
    s.state = pool->breaker.state();
    absl::MutexLock lock(&pool->mu);
    s.queued = static_cast<int>(pool->queue.size());
    s.running = pool->running;
    for (const std::unique_ptr<Slot>& slot : pool->slots)
      s.warm_workers += slot->has_worker ? 1 : 0;
    s.invocations = pool->invocations;
    s.crashes = pool->crashes;
    stats.push_back(s);
  }
  return stats;
}

absl::StatusOr<InvocationHandle> PluginHost::Submit(Invocation invocation) {
  size_t index = pools_.size();
  for (size_t i = 0; i < pools_.size(); ++i) {
    if (pools_[i]->plugin.manifest.name() == invocation.plugin) index = i;
  }
  if (index == pools_.size()) {
    return rpc::WithErrorInfo(absl::NotFoundError(absl::StrCat(
                                  "plugin '", invocation.plugin.substr(0, 64), "' not found")),
                              "PLUGIN_NOT_FOUND");
  }
  if (!sandbox_available()) {
    return rpc::WithErrorInfo(
        absl::UnavailableError("the plugin sandbox is unavailable on this host (its self-test "
                               "fails); no plugin runs without it"),
        kSandboxUnavailable);
  }
  Pool& pool = *pools_[index];
  bool trial = false;
  if (absl::Status admitted = pool.breaker.Admit(invocation.plugin, &trial); !admitted.ok()) {
    return admitted;
  }
  absl::MutexLock lock(&pool.mu);
  if (pool.stopping) {
    pool.breaker.Record(CircuitBreaker::Outcome::kNeither, trial);
    return absl::UnavailableError("spine-plugins is stopping");
  }
  const int slots = static_cast<int>(pool.slots.size());
  const int free_slots = slots - pool.running;
  if (static_cast<int>(pool.queue.size()) >= options_.queue_limit + std::max(0, free_slots)) {
    pool.breaker.Record(CircuitBreaker::Outcome::kNeither, trial);
    const double waits = static_cast<double>(pool.queue.size() + 1) / slots;
    const int64_t retry_after = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(waits * absl::ToDoubleSeconds(pool.average_run))));
    return rpc::WithErrorInfo(
        absl::ResourceExhaustedError(
            absl::StrCat("plugin '", invocation.plugin, "': ", pool.queue.size(),
                         " invocations waiting; retry in ", retry_after, " s")),
        "QUEUE_FULL",
        {{"plugin", invocation.plugin}, {"retryAfterSeconds", absl::StrCat(retry_after)}});
  }
  const uint64_t id = pool.next_id++;
  pool.queue.push_back(Job{id, std::move(invocation), clock_.MonotonicNow(), trial});
  pool.work.SignalAll();  // the slot that may take it is not necessarily the first waiter
  return InvocationHandle(this, index, id);
}

void PluginHost::Cancel(size_t plugin, uint64_t id) {
  Pool& pool = *pools_.at(plugin);
  std::optional<Job> cancelled;
  {
    absl::MutexLock lock(&pool.mu);
    for (auto it = pool.queue.begin(); it != pool.queue.end(); ++it) {
      if (it->id == id) {
        cancelled = std::move(*it);
        pool.queue.erase(it);
        break;
      }
    }
    if (!cancelled) {
      for (const std::unique_ptr<Slot>& slot : pool.slots) {
        const uint64_t one = 1;
        if (slot->running_id == id) (void)!write(slot->cancel.get(), &one, sizeof(one));
      }
      return;
    }
  }
  pool.breaker.Record(CircuitBreaker::Outcome::kNeither, cancelled->breaker_trial);
  InvocationStats stats;
  stats.queue_wait = clock_.MonotonicNow() - cancelled->queued_at;
  cancelled->invocation.on_done(
      InvokeResult{.output = absl::CancelledError("the invocation was cancelled while queued")},
      stats);
}

InvokeResult PluginHost::Run(Pool& pool, Slot& slot, const Job& job, InvocationStats* stats) {
  if (slot.worker && !slot.worker->IdleAndClean()) slot.worker.reset();
  if (!slot.worker) {
    absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(pool.plugin, options_.worker);
    if (!worker.ok()) return InvokeResult{.output = worker.status()};
    slot.worker = *std::move(worker);
    stats->cold_start = true;
  }
  const absl::Time started = clock_.MonotonicNow();
  InvokeResult result =
      slot.worker->Invoke(job.invocation.input_json, job.invocation.deadline, slot.cancel.get());
  stats->run_duration = clock_.MonotonicNow() - started;
  // RLIMIT_CPU counts over the worker's life: retire it while half the budget is left, so the
  // next invocation still gets at least that much.
  const absl::Duration cpu_budget = absl::Seconds(pool.plugin.limits.cpu_seconds);
  if (!slot.worker->usable() || slot.worker->invocations() >= options_.recycle_after ||
      slot.worker->CpuTime() * 2 >= cpu_budget) {
    slot.worker.reset();  // kills and reaps, on this thread
  }
  return result;
}

void PluginHost::SlotLoop(Pool& pool, Slot& slot) {
  // A worker that dies while we write to it must cost an EPIPE, never the host: SIGPIPE stays
  // blocked (pending, harmless) on this thread whatever the process disposition is.
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);

  for (;;) {
    Job job;
    {
      absl::MutexLock lock(&pool.mu);
      // A warm idle slot goes first: a cold one takes a job only when no warm one is free.
      auto may_take = [&] {
        if (pool.queue.empty()) return false;
        if (slot.has_worker) return true;
        for (const std::unique_ptr<Slot>& other : pool.slots) {
          if (other->has_worker && other->running_id == 0) return false;
        }
        return true;
      };
      while (!pool.stopping && !may_take()) pool.work.Wait(&pool.mu);
      if (pool.stopping) break;
      job = std::move(pool.queue.front());
      pool.queue.pop_front();
      slot.running_id = job.id;
      DrainEventFd(slot.cancel.get());
      ++pool.running;
    }
    InvocationStats stats;
    stats.queue_wait = clock_.MonotonicNow() - job.queued_at;
    InvokeResult result;
    if (absl::Now() >= job.invocation.deadline) {
      result.output = absl::DeadlineExceededError("the deadline passed while queued");
    } else {
      result = Run(pool, slot, job, &stats);
    }
    const bool worker_died = !slot.worker;
    const CircuitBreaker::Outcome outcome = OutcomeOf(result.output.status(), worker_died);
    pool.breaker.Record(outcome, job.breaker_trial);
    {
      absl::MutexLock lock(&pool.mu);
      slot.running_id = 0;
      --pool.running;
      ++pool.invocations;
      if (outcome == CircuitBreaker::Outcome::kCrash) ++pool.crashes;
      if (stats.run_duration > absl::ZeroDuration()) {
        pool.average_run = (pool.average_run * 7 + stats.run_duration) / 8;
      }
    }
    job.invocation.on_done(std::move(result), stats);
    // A worker retired in good health is replaced at once, so the next caller finds it warm.
    if (!slot.worker && outcome == CircuitBreaker::Outcome::kSuccess) {
      absl::StatusOr<std::unique_ptr<Worker>> worker = Worker::Start(pool.plugin, options_.worker);
      if (worker.ok()) slot.worker = *std::move(worker);
    }
    absl::MutexLock lock(&pool.mu);
    slot.has_worker = slot.worker != nullptr;
    pool.work.SignalAll();  // a cold slot may have waited for this one
  }
  slot.worker.reset();
}

InvokeResult PluginHost::InvokeAndWait(const std::string& plugin, const std::string& input_json,
                                       absl::Duration timeout, InvocationStats* stats) {
  absl::Notification done;
  InvokeResult result;
  Invocation invocation{.plugin = plugin,
                        .input_json = input_json,
                        .deadline = absl::Now() + timeout,
                        .on_done = [&](InvokeResult r, InvocationStats s) {
                          result = std::move(r);
                          if (stats != nullptr) *stats = s;
                          done.Notify();
                        }};
  absl::StatusOr<InvocationHandle> handle = Submit(std::move(invocation));
  if (!handle.ok()) return InvokeResult{.output = handle.status()};
  done.WaitForNotification();
  return result;
}

}  // namespace spine::plugins
