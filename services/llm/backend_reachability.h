// BackendReachability: whether each configured model's backend server can be reached, checked
// in the background so /status and /readyz can say which model is cut off before a user finds
// out (issue 16, "Errors that tell the truth").
//
// A check opens a TCP connection to the host and port of the model's baseUrl (stub models have
// no server and are always reachable); every model is checked at start and then every
// `interval`. The answer says "reachable" in the narrow sense of "something accepts
// connections there": a backend that answers but refuses requests is reported by the
// requests' own errors.
//
// Thread-safe. One thread of its own, stopped and joined by the destructor.
#pragma once

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/llm/model_config.h"

namespace spine::llm {

struct BackendHealth {
  std::string model{};
  bool reachable = true;
  std::string error{};  // why not, when not reachable; never a credential
};

// OK when something accepts a TCP connection at `base_url`'s host and port (80 or 443 by
// default) within `timeout`; UNAVAILABLE saying why otherwise.
absl::Status ProbeTcp(const std::string& base_url, absl::Duration timeout);

class BackendReachability {
 public:
  // Checks one base URL; ProbeTcp in production, a fake in tests.
  using Probe = std::function<absl::Status(const std::string& base_url)>;

  // Starts checking `models` (those with a baseUrl) every `interval` with `probe`.
  BackendReachability(const std::vector<ModelConfig>& models, absl::Duration interval, Probe probe);
  ~BackendReachability();
  BackendReachability(const BackendReachability&) = delete;
  BackendReachability& operator=(const BackendReachability&) = delete;

  // Every model in the models file's order; a model not checked yet counts as reachable.
  std::vector<BackendHealth> Snapshot() const;
  // Waits until every model has been checked at least once (for tests and a truthful first
  // answer); false if `timeout` passes first.
  bool WaitChecked(absl::Duration timeout) const;

 private:
  void Loop();

  struct Target {
    std::string model;
    std::string base_url;  // empty: nothing to check
  };
  const std::vector<Target> targets_;
  const absl::Duration interval_;
  const Probe probe_;

  mutable absl::Mutex mu_;
  std::vector<BackendHealth> health_ ABSL_GUARDED_BY(mu_);
  bool checked_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace spine::llm
