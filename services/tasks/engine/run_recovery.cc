#include "services/tasks/engine/run_recovery.h"

#include <algorithm>
#include <string>

#include "libs/core/log.h"

namespace spine::tasks {

RunRecovery::RunRecovery(TaskEngine& engine) : thread_([this, &engine] { Run(engine); }) {}

RunRecovery::~RunRecovery() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void RunRecovery::Run(TaskEngine& engine) {
  absl::Duration pause = absl::Milliseconds(200);
  while (true) {
    const absl::Status recovered = engine.Recover();
    if (recovered.ok()) return;
    log::Warn("run recovery will be retried", {{"error", std::string(recovered.message())}});
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping), pause)) return;
    pause = std::min(pause * 2, absl::Seconds(5));
  }
}

}  // namespace spine::tasks
