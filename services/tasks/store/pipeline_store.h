// PipelineStore: where PipelineService keeps pipeline definitions (spine-storage's pipeline
// records, in production). The seam between the service and gRPC; tests use a fake.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "spine/v1/tasks.pb.h"

namespace spine::tasks {

struct PipelinePage {
  std::vector<spine::v1::Pipeline> pipelines{};
  std::string next_page_token{};
};

class PipelineStore {
 public:
  virtual ~PipelineStore() = default;
  virtual absl::StatusOr<spine::v1::Pipeline> Create(
      int64_t user_id, const std::string& name, const google::protobuf::Struct& definition) = 0;
  // NOT_FOUND (PIPELINE_NOT_FOUND) for another user's pipeline.
  virtual absl::StatusOr<spine::v1::Pipeline> Get(int64_t user_id, int64_t id) = 0;
  virtual absl::StatusOr<PipelinePage> List(int64_t user_id, int page_size,
                                            const std::string& page_token) = 0;
  virtual absl::Status Delete(int64_t user_id, int64_t id) = 0;
};

}  // namespace spine::tasks
