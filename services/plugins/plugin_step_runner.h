// PluginStepRunner: how spine-plugins runs a pipeline's plugin steps for the TaskEngine (through
// the StepWorker, off the event bus): validated like a direct invoke, then through the same
// PluginHost (the plugin's warm workers, queue and circuit breaker) and audited like an invoke
// (action "plugins.pipeline_step"). The step's output is the plugin's output as JSON.
// Thread-safe; `host` and the audit sink must outlive it.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "libs/audit/audit_sink.h"
#include "libs/bus/cancellable_jobs.h"
#include "libs/bus/step_worker.h"
#include "services/plugins/host/plugin_host.h"

namespace spine::plugins {

class PluginStepRunner final : public bus::StepRunner {
 public:
  PluginStepRunner(PluginHost& host, audit::AuditSink& audit) : host_(host), audit_(audit) {}

  void Run(const spine::v1::StepJob& job,
           std::function<void(absl::StatusOr<google::protobuf::Value>)> done) override;
  void Cancel(const std::string& job_id) override;
  std::vector<std::string> Names() const override;

 private:
  PluginHost& host_;
  audit::AuditSink& audit_;
  bus::CancellableJobs<InvocationHandle> running_;
};

}  // namespace spine::plugins
