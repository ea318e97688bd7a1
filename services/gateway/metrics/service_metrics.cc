#include "services/gateway/metrics/service_metrics.h"

#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace spine::gateway {
namespace {

using spine::v1::ServiceStatus;
using Results = std::map<std::string, absl::StatusOr<ServiceStatus>>;

// A label value as the text format wants it: backslash, quote and newline escaped.
std::string Label(const std::string& value) {
  return absl::StrReplaceAll(value, {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

class Writer {
 public:
  // One metric family: its header, then a sample per answering service that has it.
  void Family(const char* name, const char* help,
              const std::function<void(const std::string&, const ServiceStatus&)>& samples,
              const Results& results, const char* type = "gauge") {
    absl::StrAppend(&text_, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
    for (const auto& [service, result] : results) {
      if (result.ok() && result->up()) samples(service, *result);
    }
  }
  void Sample(const char* name, const std::string& labels, double value) {
    absl::StrAppend(&text_, name, "{", labels, "} ", value, "\n");
  }
  // Exact, where a double's six significant digits would round (bytes).
  void SampleInt(const char* name, const std::string& labels, int64_t value) {
    absl::StrAppend(&text_, name, "{", labels, "} ", value, "\n");
  }
  std::string& text() { return text_; }

 private:
  std::string text_;
};

}  // namespace

std::string RenderServiceMetrics(const Results& results) {
  Writer out;
  absl::StrAppend(&out.text(),
                  "# HELP spine_service_up Whether the service answered its status probe.\n"
                  "# TYPE spine_service_up gauge\n");
  for (const auto& [service, result] : results) {
    out.Sample("spine_service_up", absl::StrCat("service=\"", Label(service), "\""),
               result.ok() && result->up() ? 1 : 0);
  }
  auto service_label = [](const std::string& service) {
    return absl::StrCat("service=\"", Label(service), "\"");
  };
  // Prometheus base units (bytes, seconds), so `promtool check metrics` passes.
  out.Family(
      "spine_service_resident_memory_bytes", "Resident memory of the service process.",
      [&](const std::string& service, const ServiceStatus& status) {
        out.SampleInt("spine_service_resident_memory_bytes", service_label(service),
                      static_cast<int64_t>(std::llround(status.rss_mb() * 1024 * 1024)));
      },
      results);
  out.Family(
      "spine_service_uptime_seconds", "Seconds since the service started.",
      [&](const std::string& service, const ServiceStatus& status) {
        out.Sample("spine_service_uptime_seconds", service_label(service),
                   static_cast<double>(status.uptime_seconds()));
      },
      results);
  out.Family(
      "spine_audit_write_failures_total",
      "Audit events the service could not write to the audit log since it started.",
      [&](const std::string& service, const ServiceStatus& status) {
        if (status.has_audit_write_failures()) {
          out.SampleInt("spine_audit_write_failures_total", service_label(service),
                        static_cast<int64_t>(status.audit_write_failures()));
        }
      },
      results, "counter");
  out.Family(
      "spine_llm_backend_reachable",
      "Whether the model's backend server accepts connections (stub models always do).",
      [&](const std::string& service, const ServiceStatus& status) {
        for (const spine::v1::ModelBackendHealth& backend : status.model_backends()) {
          out.SampleInt(
              "spine_llm_backend_reachable",
              absl::StrCat(service_label(service), ",model=\"", Label(backend.model()), "\""),
              static_cast<int64_t>(backend.reachable() ? 1 : 0));
        }
      },
      results);
  out.Family(
      "spine_db_up", "Whether spine-storage's database answers.",
      [&](const std::string& service, const ServiceStatus& status) {
        if (status.has_db_conn())
          out.Sample("spine_db_up", service_label(service), status.db_conn());
      },
      results);
  out.Family(
      "spine_plugin_sandbox_alive", "Whether the plugin sandbox self-test passed within 30 s.",
      [&](const std::string& service, const ServiceStatus& status) {
        if (status.has_plugin_sandbox_alive()) {
          out.Sample("spine_plugin_sandbox_alive", service_label(service),
                     status.plugin_sandbox_alive());
        }
      },
      results);
  out.Family(
      "spine_bus_queue_lag_seconds", "Age of the oldest undelivered event bus message.",
      [&](const std::string& service, const ServiceStatus& status) {
        if (status.has_queue_lag_ms()) {
          out.Sample("spine_bus_queue_lag_seconds", service_label(service),
                     static_cast<double>(status.queue_lag_ms()) / 1000);
        }
      },
      results);

  struct ModelFamily {
    const char* name;
    const char* help;
    std::function<double(const spine::v1::ModelQueue&)> value;
  };
  const std::vector<ModelFamily> model_families = {
      {"spine_llm_queue_depth", "Generations waiting in the model's queue.",
       [](const spine::v1::ModelQueue& q) { return static_cast<double>(q.queued()); }},
      {"spine_llm_running", "Generations running on the model's runners.",
       [](const spine::v1::ModelQueue& q) { return static_cast<double>(q.running()); }},
      {"spine_llm_runner_utilisation", "Busy runners over the model's maxConcurrency.",
       [](const spine::v1::ModelQueue& q) {
         return q.max_concurrency() > 0 ? static_cast<double>(q.running()) / q.max_concurrency()
                                        : 0.0;
       }},
      {"spine_llm_oldest_queued_seconds", "Age of the oldest generation in the model's queue.",
       [](const spine::v1::ModelQueue& q) {
         return static_cast<double>(q.oldest_queued_ms()) / 1000;
       }},
  };
  for (const ModelFamily& family : model_families) {
    out.Family(
        family.name, family.help,
        [&](const std::string& service, const ServiceStatus& status) {
          for (const spine::v1::ModelQueue& queue : status.model_queues()) {
            out.Sample(
                family.name,
                absl::StrCat(service_label(service), ",model=\"", Label(queue.model()), "\""),
                family.value(queue));
          }
        },
        results);
  }
  // spine-plugins' counters per plugin, and spine-tasks' per bus queue.
  struct Labelled {
    const char* name;
    const char* help;
    const char* type;
  };
  const Labelled plugin_families[] = {
      {"spine_plugin_invocations_total", "Invocations of the plugin since spine-plugins started.",
       "counter"},
      {"spine_plugin_crashes_total", "Worker crashes of the plugin since spine-plugins started.",
       "counter"},
  };
  for (const Labelled& family : plugin_families) {
    absl::StrAppend(&out.text(), "# HELP ", family.name, " ", family.help, "\n# TYPE ", family.name,
                    " ", family.type, "\n");
    for (const auto& [service, result] : results) {
      if (!result.ok() || !result->up()) continue;
      for (const spine::v1::PluginCounters& plugin : result->plugins()) {
        const bool crashes = std::string(family.name) == "spine_plugin_crashes_total";
        out.Sample(family.name,
                   absl::StrCat(service_label(service), ",plugin=\"", Label(plugin.plugin()), "\""),
                   static_cast<double>(crashes ? plugin.crashes() : plugin.invocations()));
      }
    }
  }
  out.Family(
      "spine_plugin_breaker_open",
      "Whether the plugin's circuit breaker is open, refusing every invocation.",
      [&](const std::string& service, const ServiceStatus& status) {
        for (const spine::v1::PluginCounters& plugin : status.plugins()) {
          out.SampleInt(
              "spine_plugin_breaker_open",
              absl::StrCat(service_label(service), ",plugin=\"", Label(plugin.plugin()), "\""),
              static_cast<int64_t>(plugin.breaker_open() ? 1 : 0));
        }
      },
      results);
  struct QueueFamily {
    const char* name;
    const char* help;
    std::function<double(const spine::v1::BusQueue&)> value;
  };
  const std::vector<QueueFamily> queue_families = {
      {"spine_bus_queue_depth", "Messages waiting in the event-bus queue.",
       [](const spine::v1::BusQueue& q) { return static_cast<double>(q.depth()); }},
      {"spine_bus_queue_in_flight", "Deliveries of the queue not yet acknowledged.",
       [](const spine::v1::BusQueue& q) { return static_cast<double>(q.in_flight()); }},
      {"spine_bus_queue_dead_letters", "Dead letters of the queue.",
       [](const spine::v1::BusQueue& q) { return static_cast<double>(q.dead_letters()); }},
  };
  for (const QueueFamily& family : queue_families) {
    out.Family(
        family.name, family.help,
        [&](const std::string& service, const ServiceStatus& status) {
          for (const spine::v1::BusQueue& queue : status.bus_queues()) {
            out.Sample(
                family.name,
                absl::StrCat(service_label(service), ",queue=\"", Label(queue.queue()), "\""),
                family.value(queue));
          }
        },
        results);
  }
  return std::move(out.text());
}

std::string RenderPlatformStatusMetrics(const spine::v1::PlatformStatus& platform) {
  // The /status verdict itself, so an alert on it cannot drift from the rule that makes it.
  return absl::StrCat(
      "# HELP spine_status_degraded Whether GET /status says \"degraded\".\n"
      "# TYPE spine_status_degraded gauge\n"
      "spine_status_degraded ",
      platform.status() == "ok" ? 0 : 1, "\n");
}

}  // namespace spine::gateway
