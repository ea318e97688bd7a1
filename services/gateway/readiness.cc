#include "services/gateway/readiness.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace spine::gateway {
namespace {

struct Fanout {
  absl::Mutex mu;
  size_t pending ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> not_ready ABSL_GUARDED_BY(mu);
  std::function<void(std::vector<std::string>)> done;

  // Records one check's answer; the last one calls `done`.
  void Finish(std::vector<std::string> names) {
    std::vector<std::string> result;
    {
      absl::MutexLock lock(&mu);
      not_ready.insert(not_ready.end(), names.begin(), names.end());
      if (--pending > 0) return;
      result = std::move(not_ready);
    }
    std::sort(result.begin(), result.end());
    result.erase(std::unique(result.begin(), result.end()), result.end());
    done(std::move(result));
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

void ReadinessChecker::CheckAll(absl::Duration timeout,
                                std::function<void(std::vector<std::string>)> done) const {
  auto fanout = std::make_shared<Fanout>();
  fanout->done = std::move(done);
  {
    absl::MutexLock lock(&fanout->mu);
    // One more than the checks: the last Finish below, once every check has been started, so
    // `done` cannot run while this loop still reads the targets.
    fanout->pending = health_.size() + (extras_.tasks_prober != nullptr ? 1 : 0) + 1;
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
  const bool admin_ready = !extras_.first_admin_ready || extras_.first_admin_ready();
  fanout->Finish(admin_ready ? std::vector<std::string>{}
                             : std::vector<std::string>{kFirstAdminNotReady});
}

}  // namespace spine::gateway
