// PipelineAccess: spine-tasks' pipeline definitions, per user. The definition's schema is
// spine-tasks' business; here it is only a JSON object of bounded size.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "libs/core/clock.h"
#include "services/storage/page_token.h"
#include "services/storage/pipeline.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

struct PipelinePage {
  std::vector<Pipeline> pipelines;
  std::string next_page_token;
};

class PipelineAccess {
 public:
  PipelineAccess(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock)
      : adapter_(adapter), page_tokens_(page_tokens), clock_(clock) {}

  // Name 1..128 characters without control characters, definition a JSON object of at most
  // 256 KiB.
  absl::StatusOr<Pipeline> CreatePipeline(int64_t user_id, const std::string& name,
                                          const std::string& definition_json);
  absl::StatusOr<Pipeline> GetPipeline(int64_t user_id, int64_t id);
  absl::StatusOr<PipelinePage> ListPipelines(int64_t user_id, int page_size,
                                             const std::string& page_token);
  absl::Status DeletePipeline(int64_t user_id, int64_t id);

 private:
  StorageAdapter& adapter_;
  const PageTokenCodec& page_tokens_;
  const Clock& clock_;
};

}  // namespace spine::storage
