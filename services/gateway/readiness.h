// ReadinessChecker: asks every service's gRPC health check at once, for GET /readyz.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libs/rpc/health_client.h"

namespace spine::gateway {

class ReadinessChecker {
 public:
  // `targets`: service name → health client of that service. Borrowed by nothing; copied in.
  explicit ReadinessChecker(std::map<std::string, rpc::HealthClient> targets)
      : targets_(std::move(targets)) {}

  // Checks all services in parallel, each within `timeout`; `done` gets the names of those
  // that did not answer SERVING (sorted, empty when all are ready). Runs on a gRPC thread.
  void CheckAll(absl::Duration timeout, std::function<void(std::vector<std::string>)> done) const;

 private:
  std::map<std::string, rpc::HealthClient> targets_;
};

}  // namespace spine::gateway
