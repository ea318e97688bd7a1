// RenderServiceMetrics: the services' status probes as Prometheus text.
#include "services/gateway/metrics/service_metrics.h"

#include <catch2/catch.hpp>
#include <string>

namespace spine::gateway {
namespace {

TEST_CASE("probe answers become gauges per service and per model; a silent service is up 0") {
  spine::v1::ServiceStatus llm;
  llm.set_service("llm");
  llm.set_up(true);
  llm.set_rss_mb(42.5);
  llm.set_audit_write_failures(3);
  auto* queue = llm.add_model_queues();
  queue->set_model("stub\"slow");  // label values are escaped
  queue->set_queued(7);
  queue->set_running(1);
  queue->set_max_concurrency(4);
  queue->set_oldest_queued_ms(1500);
  spine::v1::ServiceStatus plugins;
  plugins.set_up(true);
  auto* counters = plugins.add_plugins();
  counters->set_plugin("hello-world");
  counters->set_invocations(12);
  counters->set_crashes(2);
  auto* tripped = plugins.add_plugins();
  tripped->set_plugin("crashy");
  tripped->set_breaker_open(true);
  spine::v1::ServiceStatus tasks;
  tasks.set_up(true);
  auto* bus_queue = tasks.add_bus_queues();
  bus_queue->set_queue("steps.llm");
  bus_queue->set_depth(5);
  bus_queue->set_dead_letters(1);
  spine::v1::ServiceStatus storage;
  storage.set_up(true);
  storage.set_db_conn(true);
  const std::string text = RenderServiceMetrics({{"llm", llm},
                                                 {"storage", storage},
                                                 {"plugins", plugins},
                                                 {"tasks", tasks},
                                                 {"gateway", absl::UnavailableError("down")}});
  auto has = [&](const std::string& needle) {
    INFO(needle << "\n" << text);
    CHECK(text.find(needle) != std::string::npos);
  };
  has("# TYPE spine_service_up gauge\n");
  has("spine_service_up{service=\"llm\"} 1\n");
  has("spine_service_up{service=\"gateway\"} 0\n");
  has("# TYPE spine_plugin_crashes_total counter\n");
  has("spine_plugin_crashes_total{service=\"plugins\",plugin=\"hello-world\"} 2\n");
  has("spine_plugin_invocations_total{service=\"plugins\",plugin=\"hello-world\"} 12\n");
  has("# TYPE spine_plugin_breaker_open gauge\n");
  has("spine_plugin_breaker_open{service=\"plugins\",plugin=\"hello-world\"} 0\n");
  has("spine_plugin_breaker_open{service=\"plugins\",plugin=\"crashy\"} 1\n");
  has("spine_bus_queue_depth{service=\"tasks\",queue=\"steps.llm\"} 5\n");
  has("spine_bus_queue_dead_letters{service=\"tasks\",queue=\"steps.llm\"} 1\n");
  has("spine_service_resident_memory_bytes{service=\"llm\"} 44564480\n");  // 42.5 MiB
  has("spine_audit_write_failures_total{service=\"llm\"} 3\n");
  has("spine_db_up{service=\"storage\"} 1\n");
  has("spine_llm_queue_depth{service=\"llm\",model=\"stub\\\"slow\"} 7\n");
  has("spine_llm_running{service=\"llm\",model=\"stub\\\"slow\"} 1\n");
  has("spine_llm_runner_utilisation{service=\"llm\",model=\"stub\\\"slow\"} 0.25\n");
  has("spine_llm_oldest_queued_seconds{service=\"llm\",model=\"stub\\\"slow\"} 1.5\n");
  // Nothing from the silent service but its up 0.
  CHECK(text.find("spine_service_resident_memory_bytes{service=\"gateway\"}") == std::string::npos);
  // A storage that reports no audit figure has no audit sample.
  CHECK(text.find("spine_audit_write_failures_total{service=\"storage\"}") == std::string::npos);
}

TEST_CASE("the /status verdict is a gauge: 1 when degraded, 0 when ok") {
  spine::v1::PlatformStatus platform;
  platform.set_status("ok");
  CHECK(RenderPlatformStatusMetrics(platform) ==
        "# HELP spine_status_degraded Whether GET /status says \"degraded\".\n"
        "# TYPE spine_status_degraded gauge\n"
        "spine_status_degraded 0\n");
  platform.set_status("degraded");
  CHECK(RenderPlatformStatusMetrics(platform).ends_with("\nspine_status_degraded 1\n"));
}

}  // namespace
}  // namespace spine::gateway
