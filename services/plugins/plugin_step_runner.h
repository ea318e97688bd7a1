// PluginStepRunner: how spine-plugins runs a pipeline's plugin steps for the TaskEngine (through
// the StepWorker, off the event bus): validated like a direct invoke, then through the same
// PluginHost (the plugin's warm workers, queue and circuit breaker) and audited like an invoke
// (action "plugins.pipeline_step"). The step's output is the plugin's output as JSON.
// Thread-safe; `host` and the audit sink must outlive it.
#pragma once

#include <string>
#include <vector>

#include "libs/audit/audit_sink.h"
#include "libs/bus/step_worker.h"
#include "services/plugins/host/plugin_host.h"

namespace spine::plugins {

class PluginStepRunner final : public bus::StepRunner {
 public:
  PluginStepRunner(PluginHost& host, audit::AuditSink& audit) : host_(host), audit_(audit) {}

  absl::StatusOr<bus::StopFn> Start(const spine::v1::StepJob& job, Done done) override;
  std::vector<std::string> Names() const override;

 private:
  PluginHost& host_;
  audit::AuditSink& audit_;
};

}  // namespace spine::plugins
