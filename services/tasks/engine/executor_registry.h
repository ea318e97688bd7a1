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
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

class ExecutorRegistry final : public CapabilityCatalog {
 public:
  // `clock` must outlive the registry.
  explicit ExecutorRegistry(const Clock& clock) : clock_(clock) {}

  // Records (or renews) an advertisement. INVALID_ARGUMENT for an unknown kind, an empty
  // executor, or a ttl outside 1 ms..10 min.
  absl::Status Advertise(const spine::v1::ExecutorAdvertisement& advertisement);

  bool HasModel(absl::string_view name) const override;
  bool HasPlugin(absl::string_view name) const override;

  // The names some live executor of `kind` advertises, sorted (for status and errors).
  std::vector<std::string> Names(absl::string_view kind) const;

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
