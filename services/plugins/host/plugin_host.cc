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
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "libs/core/log.h"
#include "libs/rpc/error_info.h"
#include "services/plugins/sandbox/unique_fd.h"

namespace spine::plugins {

struct PluginHost::Job {
  uint64_t id = 0;
  Invocation invocation{};
  absl::Time queued_at{};  // MonotonicNow
  CircuitBreaker::Ticket ticket{};
};

struct PluginHost::Slot {
  explicit Slot(absl::Mutex& pool_mu) : mu(pool_mu) {}

  absl::Mutex& mu;                       // the pool's
  std::unique_ptr<PluginWorker> worker;  // touched only by this slot's thread
  // This slot's thread only: the worker's TreeCpuTime when it last went idle.
  absl::Duration idle_cpu_base = absl::ZeroDuration();
  sandbox::UniqueFd cancel;  // an eventfd: readable means "stop the running invocation"
  uint64_t running_id ABSL_GUARDED_BY(mu) = 0;
  bool has_worker ABSL_GUARDED_BY(mu) = false;  // for Stats and for warm-first dispatch
  std::thread thread;
};

struct PluginHost::Pool {
  // One user's share of the queue.
  struct User {
    std::deque<Job> queued{};  // oldest first
    int running = 0;
    uint64_t last_served = 0;  // sequence number of its last dispatch; 0: none yet
    uint64_t activated = 0;    // sequence number of when its queue last became non-empty
  };
  // Fairness order of the users with queued jobs: least recently served first; users never
  // served (0) before all others, in the order they started queueing (as in llm::RunnerPool).
  using Key = std::tuple<uint64_t, uint64_t, std::string>;

  Pool(LoadedPlugin loaded, const CircuitBreaker::Options& breaker_options, const Clock& clock)
      : plugin(std::move(loaded)), breaker(breaker_options, clock) {}

  static Key KeyOf(const std::string& name, const User& user) {
    return {user.last_served, user.activated, name};
  }
  // Callers change a user between EraseKey and InsertKey, so `order` stays in step.
  void EraseKey(const std::string& name, const User& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!user.queued.empty()) order.erase(KeyOf(name, user));
  }
  void InsertKey(const std::string& name, const User& user) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!user.queued.empty()) order.insert(KeyOf(name, user));
  }
  // Takes the first job of the user first in `order` (which must not be empty); that user is
  // now the one served most recently.
  Job TakeFairest() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    const std::string user_id = std::get<2>(*order.begin());
    User& user = users.at(user_id);
    EraseKey(user_id, user);
    Job job = std::move(user.queued.front());
    user.queued.pop_front();
    user.last_served = next_seq++;
    ++user.running;
    InsertKey(user_id, user);
    --queued;
    return job;
  }
  // Users with nothing queued or running are forgotten.
  void MaybeForget(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = users.find(name);
    if (it != users.end() && it->second.queued.empty() && it->second.running == 0) {
      users.erase(it);
    }
  }

  const LoadedPlugin plugin;
  CircuitBreaker breaker;
  absl::Mutex mu;
  absl::CondVar work;
  absl::flat_hash_map<std::string, User> users ABSL_GUARDED_BY(mu);
  std::set<Key> order ABSL_GUARDED_BY(mu);
  int queued ABSL_GUARDED_BY(mu) = 0;
  uint64_t next_seq ABSL_GUARDED_BY(mu) = 1;
  std::vector<std::unique_ptr<Slot>> slots;  // fixed once made
  int running ABSL_GUARDED_BY(mu) = 0;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // Out of service (a reload replaced or removed it): takes nothing new, and each slot thread
  // ends once nothing is queued.
  bool draining ABSL_GUARDED_BY(mu) = false;
  int live_slots ABSL_GUARDED_BY(mu) = 0;  // slot threads not yet ended
  int64_t invocations ABSL_GUARDED_BY(mu) = 0;
  int64_t crashes ABSL_GUARDED_BY(mu) = 0;
  int64_t idle_recycles ABSL_GUARDED_BY(mu) = 0;
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
// error is an answer like any other, and a timeout, cancel or refusal (any error without a
// plugin failure's reason) says nothing about the plugin.
CircuitBreaker::Outcome OutcomeOf(const absl::Status& status, bool worker_died) {
  if (status.ok()) return CircuitBreaker::Outcome::kSuccess;
  const std::optional<std::string> reason = ReasonOf(status);
  if (reason != kPluginError && reason != kPluginCrashed && reason != kPluginBadOutput &&
      reason != kSandboxViolation) {
    return CircuitBreaker::Outcome::kNeither;
  }
  if (reason == kPluginError && !worker_died) return CircuitBreaker::Outcome::kSuccess;
  if (reason == kPluginBadOutput && !worker_died) return CircuitBreaker::Outcome::kSuccess;
  return CircuitBreaker::Outcome::kCrash;
}

// CPU a worker started ahead of demand may use to start (node, the harness, the plugin's
// module) on top of the idle budget. A plugin that spins from the moment it is loaded is still
// caught, this much later.
constexpr absl::Duration kStartupCpu = absl::Seconds(1);

void DrainEventFd(int fd) {
  uint64_t value = 0;
  while (read(fd, &value, sizeof(value)) > 0) {
  }
}

}  // namespace

absl::Status LoadFailedError(const RefusedPlugin& plugin) {
  return rpc::WithErrorInfo(
      absl::UnavailableError(absl::StrCat("plugin '", plugin.name.substr(0, 64),
                                          "' could not be loaded: ", plugin.why.message())),
      kPluginLoadFailed, {{"plugin", plugin.name.substr(0, 64)}});
}

void InvocationHandle::Cancel() const {
  if (std::shared_ptr<PluginHost::Pool> pool = pool_.lock()) host_->Cancel(*pool, id_);
}

PluginHost::PluginHost(HostOptions options, const Clock& clock, WorkerFactory start_worker)
    : options_(std::move(options)), clock_(clock), start_worker_(std::move(start_worker)) {}

absl::StatusOr<std::unique_ptr<PluginHost>> PluginHost::Create(std::vector<LoadedPlugin> plugins,
                                                               HostOptions options,
                                                               const Clock& clock,
                                                               WorkerFactory start_worker,
                                                               std::vector<RefusedPlugin> refused) {
  if (options.queue_limit < 0 || options.user_queue_limit < 0 || options.recycle_after < 1 ||
      options.breaker.crashes < 1 || options.breaker.users < 1 ||
      options.idle_cpu_budget < absl::ZeroDuration() ||
      options.idle_check_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "host options: queue_limit ", options.queue_limit, ", user_queue_limit ",
        options.user_queue_limit, ", recycle_after ", options.recycle_after, ", breaker crashes ",
        options.breaker.crashes, ", breaker users ", options.breaker.users, ", idle_cpu_budget ",
        absl::FormatDuration(options.idle_cpu_budget), ", idle_check_interval ",
        absl::FormatDuration(options.idle_check_interval)));
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
  if (!start_worker) start_worker = RealWorkers(options.worker);
  std::unique_ptr<PluginHost> host(
      new PluginHost(std::move(options), clock, std::move(start_worker)));
  std::set<std::string> names;
  for (const LoadedPlugin& plugin : plugins) names.insert(plugin.manifest.name());
  std::sort(refused.begin(), refused.end(),
            [](const RefusedPlugin& a, const RefusedPlugin& b) { return a.name < b.name; });
  std::vector<RefusedPlugin> kept;
  for (RefusedPlugin& plugin : refused) {
    // Another entry for a plugin that loaded, say: the name already answers.
    if (names.insert(plugin.name).second) kept.push_back(std::move(plugin));
  }
  std::vector<std::shared_ptr<Pool>> pools;
  for (LoadedPlugin& plugin : plugins) {
    absl::StatusOr<std::shared_ptr<Pool>> pool = host->MakePool(std::move(plugin));
    if (!pool.ok()) return pool.status();
    pools.push_back(*std::move(pool));
  }
  {
    absl::MutexLock lock(&host->mu_);
    host->refused_ = std::move(kept);
    for (const std::shared_ptr<Pool>& pool : pools)
      host->pools_[pool->plugin.manifest.name()] = pool;
  }
  // Threads last, so an early return above leaves none to join.
  for (const std::shared_ptr<Pool>& pool : pools) host->StartThreads(pool);
  return host;
}

absl::StatusOr<std::shared_ptr<PluginHost::Pool>> PluginHost::MakePool(LoadedPlugin plugin) const {
  auto pool = std::make_shared<Pool>(std::move(plugin), options_.breaker, clock_);
  for (int i = 0; i < pool->plugin.limits.concurrency; ++i) {
    auto slot = std::make_unique<Slot>(pool->mu);
    slot->cancel = sandbox::UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!slot->cancel.valid()) {
      return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
    }
    pool->slots.push_back(std::move(slot));
  }
  return pool;
}

void PluginHost::StartThreads(const std::shared_ptr<Pool>& pool) {
  {
    absl::MutexLock lock(&pool->mu);
    pool->live_slots = static_cast<int>(pool->slots.size());
  }
  for (const std::unique_ptr<Slot>& slot : pool->slots) {
    slot->thread = std::thread([this, &p = *pool, &s = *slot] { SlotLoop(p, s); });
  }
}

void PluginHost::Retire(Pool& pool) {
  absl::MutexLock lock(&pool.mu);
  pool.draining = true;
  pool.work.SignalAll();  // idle slots see it and end
}

void PluginHost::JoinRetired() {
  std::vector<std::shared_ptr<Pool>> retired;
  {
    absl::MutexLock lock(&mu_);
    retired = retired_;
  }
  std::set<Pool*> joined;
  for (const std::shared_ptr<Pool>& pool : retired) {
    {
      absl::MutexLock lock(&pool->mu);
      if (pool->live_slots > 0) continue;
    }
    // Every slot thread has left its loop (its worker killed and reaped): these joins are quick.
    for (const std::unique_ptr<Slot>& slot : pool->slots) {
      if (slot->thread.joinable()) slot->thread.join();
    }
    joined.insert(pool.get());
  }
  absl::MutexLock lock(&mu_);
  std::erase_if(retired_,
                [&](const std::shared_ptr<Pool>& pool) { return joined.contains(pool.get()); });
}

absl::StatusOr<ReloadReport> PluginHost::Reload(LoadedPlugins loaded) {
  absl::MutexLock reloading(&reload_mu_);
  JoinRetired();
  std::map<std::string, std::shared_ptr<Pool>> current;
  std::set<std::string> known;
  {
    absl::MutexLock lock(&mu_);
    current = pools_;
    for (const auto& [name, pool] : pools_) known.insert(name);
    for (const RefusedPlugin& plugin : refused_) known.insert(plugin.name);
  }
  ReloadReport report;
  // Every new pool is made before anything changes, so a failure leaves the host as it was.
  std::map<std::string, std::shared_ptr<Pool>> next;
  std::vector<std::shared_ptr<Pool>> fresh;
  for (LoadedPlugin& plugin : loaded.plugins) {
    const std::string name = plugin.manifest.name();
    if (next.contains(name)) continue;  // LoadPluginsDir never gives two; the first would win
    auto serving = current.find(name);
    if (serving != current.end() && serving->second->plugin.fingerprint == plugin.fingerprint) {
      next[name] = serving->second;
      report.unchanged.push_back(name);
      continue;
    }
    absl::StatusOr<std::shared_ptr<Pool>> pool = MakePool(std::move(plugin));
    if (!pool.ok()) return pool.status();
    next[name] = *pool;
    fresh.push_back(*std::move(pool));
    (serving == current.end() ? report.added : report.replaced).push_back(name);
  }
  std::sort(loaded.refused.begin(), loaded.refused.end(),
            [](const RefusedPlugin& a, const RefusedPlugin& b) { return a.name < b.name; });
  std::set<std::string> names;
  for (const auto& [name, pool] : next) names.insert(name);
  for (RefusedPlugin& plugin : loaded.refused) {
    if (names.insert(plugin.name).second) report.failed.push_back(std::move(plugin));
  }
  for (const std::string& name : known) {
    if (!names.contains(name)) report.removed.push_back(name);
  }
  std::vector<std::shared_ptr<Pool>> retiring;
  for (const auto& [name, pool] : current) {
    auto kept = next.find(name);
    if (kept == next.end() || kept->second != pool) retiring.push_back(pool);
  }
  for (const std::shared_ptr<Pool>& pool : fresh) StartThreads(pool);
  {
    absl::MutexLock lock(&mu_);
    pools_ = std::move(next);
    refused_ = report.failed;
    retired_.insert(retired_.end(), retiring.begin(), retiring.end());
  }
  // After the swap: from here on no Submit finds these pools, and what they hold runs out.
  for (const std::shared_ptr<Pool>& pool : retiring) Retire(*pool);
  for (std::vector<std::string>* list : {&report.added, &report.replaced, &report.unchanged}) {
    std::sort(list->begin(), list->end());
  }
  return report;
}

PluginHost::~PluginHost() {
  std::vector<std::shared_ptr<Pool>> pools;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, pool] : pools_) pools.push_back(pool);
    pools.insert(pools.end(), retired_.begin(), retired_.end());
  }
  for (const std::shared_ptr<Pool>& pool : pools) {
    std::vector<Job> dropped;
    {
      absl::MutexLock lock(&pool->mu);
      pool->stopping = true;
      for (auto& [name, user] : pool->users) {
        for (Job& job : user.queued) dropped.push_back(std::move(job));
        user.queued.clear();
      }
      pool->order.clear();
      pool->queued = 0;
      for (const std::unique_ptr<Slot>& slot : pool->slots) {
        const uint64_t one = 1;
        if (slot->running_id != 0) (void)!write(slot->cancel.get(), &one, sizeof(one));
      }
      pool->work.SignalAll();
    }
    for (Job& job : dropped) {
      pool->breaker.Record(CircuitBreaker::Outcome::kNeither, job.ticket);
      job.invocation.on_done(InvokeResult{.output = absl::CancelledError("the host is stopping")},
                             InvocationStats{});
    }
  }
  for (const std::shared_ptr<Pool>& pool : pools) {
    for (const std::unique_ptr<Slot>& slot : pool->slots) {
      if (slot->thread.joinable()) slot->thread.join();
    }
  }
}

std::shared_ptr<const LoadedPlugin> PluginHost::Find(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  auto found = pools_.find(name);
  if (found == pools_.end()) return nullptr;
  // Shares the pool's ownership, so a reload cannot free it under the caller.
  return std::shared_ptr<const LoadedPlugin>(found->second, &found->second->plugin);
}

std::optional<RefusedPlugin> PluginHost::FindRefused(const std::string& name) const {
  absl::MutexLock lock(&mu_);
  for (const RefusedPlugin& plugin : refused_) {
    if (plugin.name == name) return plugin;
  }
  return std::nullopt;
}

std::vector<RefusedPlugin> PluginHost::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

std::vector<PluginStats> PluginHost::Stats() const {
  std::vector<std::shared_ptr<Pool>> pools;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, pool] : pools_) pools.push_back(pool);
  }
  std::vector<PluginStats> stats;
  stats.reserve(pools.size());
  for (const std::shared_ptr<Pool>& pool : pools) {
    PluginStats s;
    s.plugin = std::shared_ptr<const LoadedPlugin>(pool, &pool->plugin);
    s.state = pool->breaker.state();
    absl::MutexLock lock(&pool->mu);
    s.queued = pool->queued;
    s.running = pool->running;
    for (const std::unique_ptr<Slot>& slot : pool->slots)
      s.warm_workers += slot->has_worker ? 1 : 0;
    s.invocations = pool->invocations;
    s.crashes = pool->crashes;
    s.idle_recycles = pool->idle_recycles;
    stats.push_back(s);
  }
  return stats;
}

absl::StatusOr<InvocationHandle> PluginHost::Submit(Invocation invocation) {
  // A reload may retire the pool found here before SubmitTo locks it: its successor (or
  // nothing) is looked up again. Reloads are rare and slow, so twice is plenty.
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::shared_ptr<Pool> pool;
    {
      absl::MutexLock lock(&mu_);
      if (auto it = pools_.find(invocation.plugin); it != pools_.end()) pool = it->second;
    }
    if (pool == nullptr) break;
    bool retired = false;
    absl::StatusOr<InvocationHandle> handle = SubmitTo(pool, invocation, &retired);
    if (!retired) return handle;
  }
  if (std::optional<RefusedPlugin> refused = FindRefused(invocation.plugin)) {
    return LoadFailedError(*refused);
  }
  return rpc::WithErrorInfo(
      absl::NotFoundError(absl::StrCat("plugin '", invocation.plugin.substr(0, 64), "' not found")),
      "PLUGIN_NOT_FOUND");
}

absl::StatusOr<InvocationHandle> PluginHost::SubmitTo(const std::shared_ptr<Pool>& pool_ptr,
                                                      Invocation& invocation, bool* retired) {
  if (!sandbox_available()) {
    return rpc::WithErrorInfo(
        absl::UnavailableError("the plugin sandbox is unavailable on this host (its self-test "
                               "fails); no plugin runs without it"),
        kSandboxUnavailable);
  }
  Pool& pool = *pool_ptr;
  CircuitBreaker::Ticket ticket;
  if (absl::Status admitted = pool.breaker.Admit(invocation.plugin, invocation.user_id, &ticket);
      !admitted.ok()) {
    return admitted;
  }
  absl::MutexLock lock(&pool.mu);
  if (pool.stopping || pool.draining) {
    pool.breaker.Record(CircuitBreaker::Outcome::kNeither, ticket);
    *retired = pool.draining && !pool.stopping;
    return absl::UnavailableError("spine-plugins is stopping");
  }
  const int slots = static_cast<int>(pool.slots.size());
  // Jobs a free slot is about to take are not waiting.
  const int free_slots = std::max(0, slots - pool.running);
  auto user = pool.users.find(invocation.user_id);
  const int user_queued =
      user == pool.users.end() ? 0 : static_cast<int>(user->second.queued.size());
  const bool plugin_full = pool.queued >= options_.queue_limit + free_slots;
  if (plugin_full || user_queued >= options_.user_queue_limit + free_slots) {
    pool.breaker.Record(CircuitBreaker::Outcome::kNeither, ticket);
    const double waits = static_cast<double>((plugin_full ? pool.queued : user_queued) + 1) / slots;
    const int64_t retry_after = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(waits * absl::ToDoubleSeconds(pool.average_run))));
    const std::string what =
        plugin_full ? absl::StrCat(pool.queued, " invocations waiting")
                    : absl::StrCat(user_queued, " of your invocations waiting (at most ",
                                   options_.user_queue_limit, " per user)");
    return rpc::WithErrorInfo(
        absl::ResourceExhaustedError(absl::StrCat("plugin '", invocation.plugin, "': ", what,
                                                  "; retry in ", retry_after, " s")),
        "QUEUE_FULL",
        {{"plugin", invocation.plugin}, {"retryAfterSeconds", absl::StrCat(retry_after)}});
  }
  const uint64_t id = pool.next_id++;
  const std::string user_id = invocation.user_id;
  Pool::User& queue = pool.users[user_id];
  pool.EraseKey(user_id, queue);
  if (queue.queued.empty()) queue.activated = pool.next_seq++;
  queue.queued.push_back(Job{id, std::move(invocation), clock_.MonotonicNow(), std::move(ticket)});
  pool.InsertKey(user_id, queue);
  ++pool.queued;
  pool.work.SignalAll();  // the slot that may take it is not necessarily the first waiter
  return InvocationHandle(this, pool_ptr, id);
}

void PluginHost::Cancel(Pool& pool, uint64_t id) {
  std::optional<Job> cancelled;
  {
    absl::MutexLock lock(&pool.mu);
    for (auto& [name, user] : pool.users) {
      auto it = std::find_if(user.queued.begin(), user.queued.end(),
                             [id](const Job& job) { return job.id == id; });
      if (it == user.queued.end()) continue;
      const std::string user_id = name;  // `name` dies with the entry MaybeForget may erase
      pool.EraseKey(user_id, user);
      cancelled = std::move(*it);
      user.queued.erase(it);
      pool.InsertKey(user_id, user);
      --pool.queued;
      pool.MaybeForget(user_id);
      break;
    }
    if (!cancelled) {
      for (const std::unique_ptr<Slot>& slot : pool.slots) {
        const uint64_t one = 1;
        if (slot->running_id == id) (void)!write(slot->cancel.get(), &one, sizeof(one));
      }
      return;
    }
  }
  pool.breaker.Record(CircuitBreaker::Outcome::kNeither, cancelled->ticket);
  InvocationStats stats;
  stats.queue_wait = clock_.MonotonicNow() - cancelled->queued_at;
  cancelled->invocation.on_done(
      InvokeResult{.output = absl::CancelledError("the invocation was cancelled while queued")},
      stats);
}

bool PluginHost::RecycleIfUnfit(Pool& pool, Slot& slot) {
  if (!slot.worker) return false;
  bool idle_busy = false;
  if (slot.worker->IdleAndClean()) {
    const absl::Duration used = slot.worker->TreeCpuTime() - slot.idle_cpu_base;
    if (used <= options_.idle_cpu_budget) return false;
    idle_busy = true;
    log::Warn("plugin worker recycled: it used CPU while idle",
              {{"plugin", pool.plugin.manifest.name()},
               {"idle_cpu_ms", absl::StrCat(absl::ToInt64Milliseconds(used))},
               {"budget_ms", absl::StrCat(absl::ToInt64Milliseconds(options_.idle_cpu_budget))}});
  }
  slot.worker.reset();  // kills and reaps its process tree, on this thread
  absl::MutexLock lock(&pool.mu);
  slot.has_worker = false;
  if (idle_busy) ++pool.idle_recycles;
  pool.work.SignalAll();  // a cold slot may wait for a warm one that is gone now
  return true;
}

InvokeResult PluginHost::Run(Pool& pool, Slot& slot, const Job& job, InvocationStats* stats) {
  RecycleIfUnfit(pool, slot);
  if (!slot.worker) {
    absl::StatusOr<std::unique_ptr<PluginWorker>> worker = start_worker_(pool.plugin);
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
  } else {
    slot.idle_cpu_base = slot.worker->TreeCpuTime();
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
    bool took = false;
    {
      absl::MutexLock lock(&pool.mu);
      // A warm idle slot goes first: a cold one takes a job only when no warm one is free.
      auto may_take = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool.mu) {
        if (pool.order.empty()) return false;
        if (slot.has_worker) return true;
        for (const std::unique_ptr<Slot>& other : pool.slots) {
          if (other->has_worker && other->running_id == 0) return false;
        }
        return true;
      };
      // A warm worker is looked at every idle_check_interval while it waits.
      bool check_due = false;
      // A retired pool's slot ends once nothing is left for it.
      auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool.mu) {
        return pool.stopping || (pool.draining && pool.order.empty());
      };
      while (!done() && !may_take() && !check_due) {
        if (slot.has_worker) {
          check_due = pool.work.WaitWithTimeout(&pool.mu, options_.idle_check_interval);
        } else {
          pool.work.Wait(&pool.mu);
        }
      }
      if (done()) break;
      took = may_take();
      if (took) {
        job = pool.TakeFairest();
        slot.running_id = job.id;
        DrainEventFd(slot.cancel.get());
        ++pool.running;
      }
    }
    if (!took) {  // the idle check is due
      RecycleIfUnfit(pool, slot);
      continue;
    }
    InvocationStats stats;
    stats.queue_wait = clock_.MonotonicNow() - job.queued_at;
    InvokeResult result;
    if (clock_.Now() >= job.invocation.deadline) {
      result.output = absl::DeadlineExceededError("the deadline passed while queued");
    } else {
      result = Run(pool, slot, job, &stats);
    }
    const bool worker_died = !slot.worker;
    const CircuitBreaker::Outcome outcome = OutcomeOf(result.output.status(), worker_died);
    pool.breaker.Record(outcome, job.ticket);
    bool draining = false;  // once true, stays true: a stale false costs one spare worker
    {
      absl::MutexLock lock(&pool.mu);
      draining = pool.draining;
      slot.running_id = 0;
      // Before on_done: a caller that submits again at once must find this slot warm (or about
      // to be: a worker retired in good health is replaced below) and idle, or a cold slot takes
      // the call and starts a second worker for nothing. Set exactly again below.
      slot.has_worker =
          slot.worker != nullptr || (outcome == CircuitBreaker::Outcome::kSuccess && !draining);
      --pool.running;
      --pool.users.at(job.invocation.user_id).running;
      pool.MaybeForget(job.invocation.user_id);
      ++pool.invocations;
      if (outcome == CircuitBreaker::Outcome::kCrash) ++pool.crashes;
      if (stats.run_duration > absl::ZeroDuration()) {
        pool.average_run = (pool.average_run * 7 + stats.run_duration) / 8;
      }
    }
    job.invocation.on_done(std::move(result), stats);
    // A worker retired in good health is replaced at once, so the next caller finds it warm
    // (not in a pool a reload took out of service: no next caller comes).
    if (!slot.worker && outcome == CircuitBreaker::Outcome::kSuccess && !draining) {
      absl::StatusOr<std::unique_ptr<PluginWorker>> worker = start_worker_(pool.plugin);
      if (worker.ok()) {
        slot.worker = *std::move(worker);
        // Starting node and loading the plugin take CPU that is not idling.
        slot.idle_cpu_base = slot.worker->TreeCpuTime() + kStartupCpu;
      }
    }
    absl::MutexLock lock(&pool.mu);
    slot.has_worker = slot.worker != nullptr;
    pool.work.SignalAll();  // a cold slot may have waited for this one
  }
  slot.worker.reset();  // kills and reaps its process tree
  absl::MutexLock lock(&pool.mu);
  --pool.live_slots;
}

InvokeResult PluginHost::InvokeAndWait(const std::string& plugin, const std::string& input_json,
                                       absl::Duration timeout, InvocationStats* stats,
                                       const std::string& user_id) {
  absl::Notification done;
  InvokeResult result;
  Invocation invocation{.plugin = plugin,
                        .user_id = user_id,
                        .input_json = input_json,
                        .deadline = clock_.Now() + timeout,
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
