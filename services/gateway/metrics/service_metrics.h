// The constellation's part of GET /metrics (API.md: queue depths, runner utilisation, plugin
// crashes): Prometheus text rendered from the services' status probes, the same answers the
// StatusAggregator gathers for /status (and caches with it). The gateway's own request metrics
// are GatewayMetrics'.
#pragma once

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "spine/v1/common.pb.h"

namespace spine::gateway {

// Per service: spine_service_up, spine_service_resident_memory_bytes,
// spine_service_uptime_seconds, spine_audit_write_failures_total; spine-storage's spine_db_up;
// spine-llm's per-model spine_llm_backend_reachable, spine_llm_queue_depth, spine_llm_running,
// spine_llm_runner_utilisation (running / maxConcurrency) and spine_llm_oldest_queued_seconds;
// spine-plugins' spine_plugin_sandbox_alive; spine-tasks' spine_bus_queue_lag_seconds and per
// queue spine_bus_queue_depth, _in_flight and _dead_letters; spine-plugins' per plugin
// spine_plugin_invocations_total, spine_plugin_crashes_total and spine_plugin_breaker_open. A
// service that did not answer is up 0 and reports nothing else.
std::string RenderServiceMetrics(
    const std::map<std::string, absl::StatusOr<spine::v1::ServiceStatus>>& results);

// spine_status_degraded: 1 when `platform` (MergeServiceStatuses' verdict, the body of GET
// /status) is not "ok", else 0.
std::string RenderPlatformStatusMetrics(const spine::v1::PlatformStatus& platform);

}  // namespace spine::gateway
