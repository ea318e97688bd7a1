// ExecutorRegistry: what the executors can run, as they advertise it over the bus (issue 8:
// "executors register by subscribing to their kind's queue and advertising what they can run").
// Pipeline validation asks it whether a model or plugin is served, with no call to spine-llm or
// spine-plugins. An advertisement holds for its ttl; an executor that stops advertising (it died)
// is forgotten, and so are its models and plugins unless another executor has them too.
// Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "libs/core/clock.h"
#include "services/tasks/pipeline/pipeline_definition.h"
#include "spine/v1/common.pb.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

class ExecutorRegistry final : public CapabilityCatalog {
 public:
  // `clock` must outlive the registry.
  explicit ExecutorRegistry(const Clock& clock) : clock_(clock) {}

  // At most this many live executors, and names in one advertisement (each 1..128 characters).
  static constexpr size_t kMaxExecutors = 256;
  static constexpr int kMaxNames = 1024;

  // Records (or renews) an advertisement that `publisher` (the service that published it, as
  // the bus vouches) made. PERMISSION_DENIED unless `publisher` executes the advertised kind and
  // the executor is named "<publisher>@...": a service speaks only for its own executors, so it
  // can neither add capabilities of another kind nor overwrite another service's executor.
  // INVALID_ARGUMENT for an unknown kind, an empty executor, a ttl outside 1 ms..10 min, or too
  // many or malformed names; RESOURCE_EXHAUSTED for a new executor beyond kMaxExecutors.
  absl::Status Advertise(const spine::v1::ExecutorAdvertisement& advertisement,
                         absl::string_view publisher);

  bool HasModel(absl::string_view name) const override;
  bool HasPlugin(absl::string_view name) const override;

  // The names some live executor of `kind` advertises, sorted (for status and errors).
  std::vector<std::string> Names(absl::string_view kind) const;

  // How many executors of `kind` have an advertisement within its ttl.
  int LiveExecutors(absl::string_view kind) const;

  // Adds one ExecutorKindStatus per kind spine-tasks dispatches steps to (llm, plugin), in that
  // order, each with its live executors: the gateway's /readyz is not ready while one has none,
  // since a run needing that kind would be refused (UNKNOWN_MODEL / UNKNOWN_PLUGIN).
  void ReportKinds(spine::v1::ServiceStatus* status) const;

 private:
  struct Entry {
    std::string kind;
    std::vector<std::string> names;
    absl::Time expires;
  };
  bool Has(absl::string_view kind, absl::string_view name) const;

  const Clock& clock_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> executors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::tasks
