// StorageConversationStore: the ConversationStore over spine-storage's internal
// StorageService, calling with spine-llm's service token. Thread-safe; every call has a deadline.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "services/llm/conversation_store.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::llm {

class StorageConversationStore final : public ConversationStore {
 public:
  // `service_token`: the JWT minted for spine-llm (SPINE_SERVICE_TOKEN_FILE).
  StorageConversationStore(std::shared_ptr<grpc::Channel> storage, const std::string& service_token,
                           absl::Duration deadline);

  absl::StatusOr<StoredConversation> Create(int64_t user_id, const std::string& model,
                                            const std::string& title,
                                            const std::string& system) override;
  absl::StatusOr<StoredConversation> Get(int64_t user_id, int64_t id, bool with_messages) override;
  absl::StatusOr<StoredConversationPage> List(int64_t user_id, int page_size,
                                              const std::string& page_token) override;
  absl::StatusOr<StoredConversation> Append(int64_t user_id, int64_t id,
                                            const std::string& expect_state,
                                            const std::string& new_state,
                                            const std::vector<StoredMessage>& messages) override;
  absl::Status Delete(int64_t user_id, int64_t id) override;

 private:
  std::unique_ptr<grpc::ClientContext> Context() const;

  std::unique_ptr<spine::v1::StorageService::Stub> stub_;
  const std::string authorization_;
  const absl::Duration deadline_;
};

}  // namespace spine::llm
