#include "services/gateway/readiness.h"

#include <algorithm>

#include "absl/synchronization/mutex.h"

namespace spine::gateway {
namespace {

struct Fanout {
  absl::Mutex mu;
  size_t pending ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> not_ready ABSL_GUARDED_BY(mu);
  std::function<void(std::vector<std::string>)> done;
};

}  // namespace

void ReadinessChecker::CheckAll(absl::Duration timeout,
                                std::function<void(std::vector<std::string>)> done) const {
  if (targets_.empty()) return done({});
  auto fanout = std::make_shared<Fanout>();
  fanout->done = std::move(done);
  {
    absl::MutexLock lock(&fanout->mu);
    fanout->pending = targets_.size();
  }
  for (const auto& [name, client] : targets_) {
    client.CheckAsync(timeout, [fanout, name = name](bool serving) {
      std::vector<std::string> result;
      {
        absl::MutexLock lock(&fanout->mu);
        if (!serving) fanout->not_ready.push_back(name);
        if (--fanout->pending > 0) return;
        result = std::move(fanout->not_ready);
      }
      std::sort(result.begin(), result.end());
      fanout->done(std::move(result));
    });
  }
}

}  // namespace spine::gateway
