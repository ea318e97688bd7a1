// StoragePipelineStore: PipelineService's PipelineStore over spine-storage's internal
// StorageService, with spine-tasks' service token. Thread-safe; every call has a deadline.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/tasks/store/pipeline_store.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::tasks {

class StoragePipelineStore final : public PipelineStore {
 public:
  StoragePipelineStore(const std::shared_ptr<grpc::Channel>& storage,
                       const std::string& service_token, absl::Duration deadline);

  absl::StatusOr<spine::v1::Pipeline> Create(int64_t user_id, const std::string& name,
                                             const google::protobuf::Struct& definition) override;
  absl::StatusOr<spine::v1::Pipeline> Get(int64_t user_id, int64_t id) override;
  absl::StatusOr<PipelinePage> List(int64_t user_id, int page_size,
                                    const std::string& page_token) override;
  absl::Status Delete(int64_t user_id, int64_t id) override;

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;

  std::unique_ptr<spine::v1::StorageService::Stub> stub_;
  const std::string authorization_;
  const absl::Duration deadline_;
};

}  // namespace spine::tasks
