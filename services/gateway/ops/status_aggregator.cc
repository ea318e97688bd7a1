#include "services/gateway/ops/status_aggregator.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/json_util.h"
#include "libs/core/log.h"
#include "services/gateway/metrics/service_metrics.h"

namespace spine::gateway {
namespace {

constexpr char kStorage[] = "storage";
constexpr char kTasks[] = "tasks";
constexpr char kPlugins[] = "plugins";
constexpr char kLlm[] = "llm";

// The answer of `service` when it answered and says it is up; nullptr otherwise.
const spine::v1::ServiceStatus* UpReply(
    const std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>>& results,
    const std::string& service) {
  const auto it = results.find(service);
  if (it == results.end() || !it->second.ok() || !it->second->up()) return nullptr;
  return &*it->second;
}

// One refresh: the answers so far and how many are still to come.
struct Fanout {
  absl::Mutex mu;
  size_t pending ABSL_GUARDED_BY(mu) = 0;
  std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>> results ABSL_GUARDED_BY(mu);
};

}  // namespace

spine::v1::PlatformStatus MergeServiceStatuses(
    const std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>>& results) {
  spine::v1::PlatformStatus platform;
  bool all_up = true;
  double heap_used_mb = 0;
  for (const auto& [name, result] : results) {
    spine::v1::ServiceHealth& health = (*platform.mutable_services())[name];
    if (!result.ok()) {
      health.set_up(false);
      all_up = false;
      continue;
    }
    health.set_up(result->up());
    health.set_version(result->version());
    health.set_rss_mb(result->rss_mb());
    health.set_heap_used_mb(result->heap_used_mb());
    health.set_uptime_seconds(result->uptime_seconds());
    if (result->up()) {
      heap_used_mb += result->heap_used_mb();
    } else {
      all_up = false;
    }
  }
  platform.set_heap_used_mb(heap_used_mb);

  if (const spine::v1::ServiceStatus* tasks = UpReply(results, kTasks);
      tasks != nullptr && tasks->has_queue_lag_ms()) {
    // PlatformStatus.queue_lag is int32 ms (24 days); a longer lag is reported as the maximum.
    platform.set_queue_lag(static_cast<int32_t>(
        std::clamp<int64_t>(tasks->queue_lag_ms(), 0, std::numeric_limits<int32_t>::max())));
  }
  const spine::v1::ServiceStatus* storage = UpReply(results, kStorage);
  platform.set_db_conn(storage != nullptr && storage->has_db_conn() && storage->db_conn());
  const spine::v1::ServiceStatus* plugins = UpReply(results, kPlugins);
  platform.set_plugin_sandbox_alive(plugins != nullptr && plugins->has_plugin_sandbox_alive() &&
                                    plugins->plugin_sandbox_alive());
  if (plugins != nullptr) platform.set_plugin_sandbox(plugins->plugin_sandbox());

  if (const spine::v1::ServiceStatus* llm = UpReply(results, kLlm); llm != nullptr) {
    for (const spine::v1::ModelBackendHealth& backend : llm->model_backends()) {
      if (!backend.reachable()) {
        (*platform.mutable_unreachable_models())[backend.model()] = backend.error();
      }
    }
  }

  const bool ok = all_up && platform.db_conn() && platform.plugin_sandbox_alive() &&
                  platform.unreachable_models().empty();
  platform.set_status(ok ? "ok" : "degraded");
  return platform;
}

std::string RenderPlatformStatusJson(const spine::v1::PlatformStatus& status) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto printed = google::protobuf::util::MessageToJsonString(status, &json, options);
  if (!printed.ok()) {
    // Cannot happen for this message (no Any, no invalid enum values); if it ever does, the
    // body still says what matters rather than nothing.
    log::Error("cannot print /status", {{"error", std::string(printed.message())}});
    return R"({"status":"degraded"})";
  }
  return json;
}

// One refresh's answers, rendered both ways.
struct StatusAggregator::Snapshot {
  std::string json;
  std::string metrics;
};

struct StatusAggregator::Core {
  Core(ServiceProber& prober, const Clock& clock, StatusAggregatorOptions options)
      : prober(prober), clock(clock), options(std::move(options)) {}

  ServiceProber& prober;
  const Clock& clock;
  const StatusAggregatorOptions options;

  absl::Mutex mu;
  // The last aggregate and when its probes were sent (MonotonicNow).
  std::optional<Snapshot> cached ABSL_GUARDED_BY(mu);
  absl::Time cached_at ABSL_GUARDED_BY(mu);
  // The refresh in flight, if any: only the one with the current generation may answer.
  bool refreshing ABSL_GUARDED_BY(mu) = false;
  uint64_t generation ABSL_GUARDED_BY(mu) = 0;
  absl::Time refresh_started ABSL_GUARDED_BY(mu);
  std::vector<std::function<void(const Snapshot&)>> waiters ABSL_GUARDED_BY(mu);

  // Called once per refresh, by the last probe answer.
  void Finish(uint64_t finished_generation, absl::Time started,
              const std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>>& results) {
    const spine::v1::PlatformStatus platform = MergeServiceStatuses(results);
    const Snapshot snapshot{
        .json = RenderPlatformStatusJson(platform),
        .metrics = RenderServiceMetrics(results) + RenderPlatformStatusMetrics(platform)};
    std::vector<std::function<void(const Snapshot&)>> to_answer;
    {
      absl::MutexLock lock(&mu);
      // A refresh given up as stuck: its waiters moved on to the newer one, which answers them.
      if (finished_generation != generation) return;
      cached = snapshot;
      cached_at = started;
      refreshing = false;
      to_answer.swap(waiters);
    }
    for (auto& done : to_answer) done(snapshot);
  }
};

StatusAggregator::StatusAggregator(ServiceProber& prober, const Clock& clock,
                                   StatusAggregatorOptions options)
    : core_(std::make_shared<Core>(prober, clock, std::move(options))) {}

StatusAggregator::~StatusAggregator() = default;

void StatusAggregator::Get(std::function<void(std::string json)> done) {
  GetSnapshot([done = std::move(done)](const Snapshot& snapshot) { done(snapshot.json); });
}

void StatusAggregator::GetMetrics(std::function<void(std::string text)> done) {
  GetSnapshot([done = std::move(done)](const Snapshot& snapshot) { done(snapshot.metrics); });
}

void StatusAggregator::GetSnapshot(std::function<void(const Snapshot&)> done) {
  const absl::Time now = core_->clock.MonotonicNow();
  // Explicit Lock/Unlock: each path lets go of the lock before it calls anything of others.
  core_->mu.Lock();
  if (core_->cached.has_value() && now - core_->cached_at < core_->options.cache_ttl) {
    const Snapshot snapshot = *core_->cached;
    core_->mu.Unlock();
    done(snapshot);
    return;
  }
  core_->waiters.push_back(std::move(done));
  if (core_->refreshing && now - core_->refresh_started < core_->options.stuck_refresh_after) {
    core_->mu.Unlock();
    return;  // the refresh in flight answers this caller too
  }
  core_->refreshing = true;
  const uint64_t generation = ++core_->generation;
  core_->refresh_started = now;
  core_->mu.Unlock();
  StartRefresh(core_, generation, now);
}

void StatusAggregator::StartRefresh(const std::shared_ptr<Core>& core, uint64_t generation,
                                    absl::Time started) {
  const std::vector<std::string>& services = core->options.services;
  if (services.empty()) {
    core->Finish(generation, started, {});
    return;
  }
  auto fanout = std::make_shared<Fanout>();
  {
    absl::MutexLock lock(&fanout->mu);
    fanout->pending = services.size();
  }
  for (const std::string& service : services) {
    // Probes may answer inline, so nothing of ours is locked while they are sent.
    core->prober.Probe(service, core->options.probe_timeout,
                       [core, fanout, generation, started,
                        service](absl::StatusOr<spine::v1::ServiceStatus> result) {
                         std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>> results;
                         {
                           absl::MutexLock lock(&fanout->mu);
                           fanout->results.insert_or_assign(service, std::move(result));
                           if (--fanout->pending > 0) return;
                           results = std::move(fanout->results);
                         }
                         core->Finish(generation, started, results);
                       });
  }
}

}  // namespace spine::gateway
