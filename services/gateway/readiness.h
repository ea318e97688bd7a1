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
  // Whether the first admin is settled (created, or users exist). Null: not awaited (this
  // gateway creates no admin). Called on a gRPC or I/O thread; must not block.
  std::function<bool()> first_admin_ready{};
};

// The not-ready names that spine-tasks' status answer implies: "tasks" when it failed, else
// "executor:<kind>" for each kind it reports with no live executor.
std::vector<std::string> ExecutorsNotReady(const absl::StatusOr<spine::v1::ServiceStatus>& tasks);

class ReadinessChecker {
 public:
  // `health`: service name → health client of that service; copied in.
  explicit ReadinessChecker(std::map<std::string, rpc::HealthClient> health,
                            ReadinessExtras extras = {})
      : health_(std::move(health)), extras_(std::move(extras)) {}

  // Runs every check in parallel, each within `timeout`; `done` gets the names of what is not
  // ready (sorted, without repeats, empty when all is ready). Runs on a gRPC thread, or on the
  // caller's when nothing needs a call.
  void CheckAll(absl::Duration timeout, std::function<void(std::vector<std::string>)> done) const;

 private:
  std::map<std::string, rpc::HealthClient> health_;
  ReadinessExtras extras_;
};

}  // namespace spine::gateway
