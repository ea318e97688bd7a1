// ThoughtService: the gRPC face of thoughts (proto ⇄ domain, status mapping, caller identity).
// The logic is in ThoughtAccess.
#pragma once

#include "libs/rpc/caller.h"
#include "services/storage/access/thought_access.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::storage {

class ThoughtService final : public spine::v1::ThoughtService::Service {
 public:
  ThoughtService(ThoughtAccess& data, const rpc::Authenticator& authenticator)
      : data_(data), authenticator_(authenticator) {}

  grpc::Status CreateThought(grpc::ServerContext* context,
                             const spine::v1::CreateThoughtRequest* request,
                             spine::v1::Thought* response) override;
  grpc::Status GetThought(grpc::ServerContext* context, const spine::v1::GetThoughtRequest* request,
                          spine::v1::Thought* response) override;
  grpc::Status ListThoughts(grpc::ServerContext* context,
                            const spine::v1::ListThoughtsRequest* request,
                            spine::v1::ListThoughtsResponse* response) override;
  grpc::Status UpdateThought(grpc::ServerContext* context,
                             const spine::v1::UpdateThoughtRequest* request,
                             spine::v1::Thought* response) override;
  grpc::Status DeleteThought(grpc::ServerContext* context,
                             const spine::v1::DeleteThoughtRequest* request,
                             google::protobuf::Empty* response) override;

 private:
  // The calling user's id from the verified token.
  absl::StatusOr<int64_t> CallerUserId(const grpc::ServerContext& context) const;

  ThoughtAccess& data_;
  const rpc::Authenticator& authenticator_;
};

}  // namespace spine::storage
