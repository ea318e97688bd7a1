// StatusAggregator: the body of GET /status (API.md "Operations"), gathered from every service's
// spine.v1.StatusService/GetServiceStatus in parallel and cached for a second.
//
// The body is spine.v1.PlatformStatus printed with protobuf's JSON mapping (lowerCamelCase and
// the json_names of common.proto, every field printed including false and 0, int64 as strings):
//   queueLag            tasks' queue_lag_ms; 0 when tasks is down or does not report it
//   dbConn              storage's db_conn; false when storage is down or does not report it
//   pluginSandboxAlive  plugins' plugin_sandbox_alive; false when plugins is down or silent
//   heapUsedMB          heap_used_mb summed over the services that are up
//   services.<name>     up, version, rssMB, heapUsedMB, uptimeSeconds of each probed service;
//                       a service that did not answer OK with up=true has up=false
//   status              "ok" when every probed service is up and dbConn and pluginSandboxAlive
//                       are true; otherwise "degraded". A signal that nobody reports (e.g. no
//                       storage configured) counts as false: /status says what it can vouch for.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "spine/v1/common.pb.h"

namespace spine::gateway {

// Asks one service for its status. The seam between the aggregator and gRPC: the real one is
// GrpcServiceProber (grpc_service_prober.h), tests use a fake.
//
// Thread-safe: Probe() may be called from any thread, several calls at once.
class ServiceProber {
 public:
  using Callback = std::function<void(absl::StatusOr<spine::v1::ServiceStatus>)>;

  virtual ~ServiceProber() = default;

  // Asks `service` ("storage", ...) for its ServiceStatus. `done` runs exactly once, on any
  // thread, possibly before Probe returns, and no later than about `timeout` from the call: an
  // implementation that has no answer by then reports DEADLINE_EXCEEDED. A service it does not
  // know is NOT_FOUND.
  virtual void Probe(const std::string& service, absl::Duration timeout, Callback done) = 0;
};

struct StatusAggregatorOptions {
  // Services to probe, each named in the body's "services" by this name. The signals are read
  // from "storage" (dbConn), "tasks" (queueLag) and "plugins" (pluginSandboxAlive).
  std::vector<std::string> services = {"gateway", "storage", "llm", "plugins", "tasks"};
  // Each probe's deadline (API.md: short, so a dead service never makes /status slow).
  absl::Duration probe_timeout = absl::Milliseconds(200);
  // How long an aggregate is served before the next request gathers a new one. Measured from
  // when its probes were sent.
  absl::Duration cache_ttl = absl::Seconds(1);
  // A safety net for a prober that breaks its contract and never calls back: a request arriving
  // this long after a refresh started, still unanswered, starts a new one (and the requests
  // waiting on the old one are answered by the new one).
  absl::Duration stuck_refresh_after = absl::Seconds(2);
};

// Merges one refresh's probe results (service name → its answer or error) into the /status body,
// by the rules at the top of this file.
spine::v1::PlatformStatus MergeServiceStatuses(
    const std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>>& results);

// `status` as the JSON of GET /status.
std::string RenderPlatformStatusJson(const spine::v1::PlatformStatus& status);

// Thread-safe: Get() may be called from any number of threads at once (Beast I/O threads); it
// never blocks on a probe.
class StatusAggregator {
 public:
  // `prober` and `clock` are borrowed and must outlive the aggregator and any probe it started
  // (in main.cc both live for the whole process). The aggregator itself may be destroyed with
  // probes in flight: they complete safely and still answer the callers waiting on them.
  StatusAggregator(ServiceProber& prober, const Clock& clock, StatusAggregatorOptions options = {});
  ~StatusAggregator();
  StatusAggregator(const StatusAggregator&) = delete;
  StatusAggregator& operator=(const StatusAggregator&) = delete;

  // Hands the current /status JSON body to `done`, exactly once. Within cache_ttl of the last
  // refresh it runs at once, on the calling thread, before Get returns. Otherwise it runs when
  // the refresh completes, on whichever thread delivered the last probe answer (a gRPC thread
  // in production, so an I/O caller should post back to its own executor): all callers that
  // arrive during one refresh share it, so a burst of requests sends one probe per service.
  // With a prober that keeps its contract that is at most about probe_timeout after the call.
  void Get(std::function<void(std::string json)> done);

  // As Get, for the services' part of GET /metrics (RenderServiceMetrics), from the same probes
  // and the same cache.
  void GetMetrics(std::function<void(std::string text)> done);

 private:
  struct Core;
  struct Snapshot;
  void GetSnapshot(std::function<void(const Snapshot&)> done);
  static void StartRefresh(const std::shared_ptr<Core>& core, uint64_t generation,
                           absl::Time started);

  // Shared with in-flight probe callbacks, so they stay safe if the aggregator goes first.
  std::shared_ptr<Core> core_;
};

}  // namespace spine::gateway
