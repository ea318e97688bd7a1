#include "services/gateway/readiness.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace spine::gateway {
namespace {

void SortUnique(std::vector<std::string>& names) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

struct Fanout {
  absl::Mutex mu;
  size_t pending ABSL_GUARDED_BY(mu) = 0;
  Readiness result ABSL_GUARDED_BY(mu);
  std::function<void(Readiness)> done;

  // Records one check's answer; the last one calls `done`.
  void Finish(std::vector<std::string> not_ready, std::vector<std::string> degraded = {}) {
    Readiness all;
    {
      absl::MutexLock lock(&mu);
      result.not_ready.insert(result.not_ready.end(), not_ready.begin(), not_ready.end());
      result.degraded.insert(result.degraded.end(), degraded.begin(), degraded.end());
      if (--pending > 0) return;
      all = std::move(result);
    }
    SortUnique(all.not_ready);
    SortUnique(all.degraded);
    done(std::move(all));
  }
};

}  // namespace

std::vector<std::string> ExecutorsNotReady(const absl::StatusOr<spine::v1::ServiceStatus>& tasks) {
  if (!tasks.ok()) return {"tasks"};
  std::vector<std::string> names;
  for (const spine::v1::ExecutorKindStatus& kind : tasks->executor_kinds()) {
    if (kind.live_executors() < 1) names.push_back(absl::StrCat("executor:", kind.kind()));
  }
  return names;
}

std::vector<std::string> ModelsDegraded(const absl::StatusOr<spine::v1::ServiceStatus>& llm) {
  if (!llm.ok()) return {};
  std::vector<std::string> names;
  for (const spine::v1::ModelBackendHealth& backend : llm->model_backends()) {
    if (!backend.reachable()) names.push_back(absl::StrCat("model:", backend.model()));
  }
  return names;
}

void ReadinessChecker::CheckAll(absl::Duration timeout, std::function<void(Readiness)> done) const {
  auto fanout = std::make_shared<Fanout>();
  fanout->done = std::move(done);
  {
    absl::MutexLock lock(&fanout->mu);
    // One more than the checks: the last Finish below, once every check has been started, so
    // `done` cannot run while this loop still reads the targets.
    fanout->pending = health_.size() + (extras_.tasks_prober != nullptr ? 1 : 0) +
                      (extras_.llm_prober != nullptr ? 1 : 0) + 1;
  }
  for (const auto& [name, client] : health_) {
    client.CheckAsync(timeout, [fanout, name = name](bool serving) {
      fanout->Finish(serving ? std::vector<std::string>{} : std::vector<std::string>{name});
    });
  }
  if (extras_.tasks_prober != nullptr) {
    extras_.tasks_prober->Probe("tasks", timeout,
                                [fanout](const absl::StatusOr<spine::v1::ServiceStatus>& status) {
                                  fanout->Finish(ExecutorsNotReady(status));
                                });
  }
  if (extras_.llm_prober != nullptr) {
    extras_.llm_prober->Probe("llm", timeout,
                              [fanout](const absl::StatusOr<spine::v1::ServiceStatus>& status) {
                                fanout->Finish({}, ModelsDegraded(status));
                              });
  }
  const bool admin_ready = !extras_.first_admin_ready || extras_.first_admin_ready();
  fanout->Finish(admin_ready ? std::vector<std::string>{}
                             : std::vector<std::string>{kFirstAdminNotReady});
}

}  // namespace spine::gateway
