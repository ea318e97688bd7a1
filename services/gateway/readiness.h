// ReadinessChecker: what GET /readyz waits for. Ready means usable now, not merely started:
//   - every service answers its gRPC health check SERVING (else: the service's name);
//   - spine-tasks has heard an executor of every kind it dispatches steps to advertise, asked
//     through its StatusService (else: "executor:<kind>", or "tasks" when it does not answer),
//     so a run naming a model or plugin that a running executor serves is accepted;
//   - the first admin exists or is known to exist, when this gateway creates one (else:
//     "first-admin"), so the configured admin can log in.
// Every check runs at once, each within the timeout: a missing piece makes /readyz answer 503
// naming it, never slow, and nothing waits for it to appear.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/rpc/health_client.h"
#include "services/gateway/ops/status_aggregator.h"
#include "spine/v1/common.pb.h"

namespace spine::gateway {

inline constexpr char kFirstAdminNotReady[] = "first-admin";

// What readiness waits for beyond the health checks; each optional and borrowed.
struct ReadinessExtras {
  // Asks "tasks" for its ServiceStatus, whose executor_kinds must each have a live executor.
  // Null: executors are not awaited.
  ServiceProber* tasks_prober = nullptr;
  // Asks "llm" for its ServiceStatus: a model whose backend cannot be reached makes the answer
  // degraded (still ready: the other models work). Null: not asked.
  ServiceProber* llm_prober = nullptr;
  // Whether the first admin is settled (created, or users exist). Null: not awaited (this
  // gateway creates no admin). Called on a gRPC or I/O thread; must not block.
  std::function<bool()> first_admin_ready{};
};

// The not-ready names that spine-tasks' status answer implies: "tasks" when it failed, else
// "executor:<kind>" for each kind it reports with no live executor.
std::vector<std::string> ExecutorsNotReady(const absl::StatusOr<spine::v1::ServiceStatus>& tasks);

// "model:<name>" for each model spine-llm's status answer reports unreachable; none when it
// failed (its health check says so).
std::vector<std::string> ModelsDegraded(const absl::StatusOr<spine::v1::ServiceStatus>& llm);

// The outcome of one CheckAll: what is not ready (then 503), and what works only in part.
struct Readiness {
  std::vector<std::string> not_ready{};  // sorted, without repeats
  std::vector<std::string> degraded{};   // sorted, without repeats
};

class ReadinessChecker {
 public:
  // `health`: service name → health client of that service; copied in.
  explicit ReadinessChecker(std::map<std::string, rpc::HealthClient> health,
                            ReadinessExtras extras = {})
      : health_(std::move(health)), extras_(std::move(extras)) {}

  // Runs every check in parallel, each within `timeout`; `done` gets the names of what is not
  // ready and of what is degraded (both empty when all is well). Runs on a gRPC thread, or on
  // the caller's when nothing needs a call.
  void CheckAll(absl::Duration timeout, std::function<void(Readiness)> done) const;

 private:
  std::map<std::string, rpc::HealthClient> health_;
  ReadinessExtras extras_;
};

}  // namespace spine::gateway
