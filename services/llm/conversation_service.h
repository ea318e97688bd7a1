// ConversationService: the gRPC face of the ConversationOrchestrator (llm.proto's
// ConversationService): caller identity, proto ⇄ domain, status mapping.
//
// Conversations belong to users: the caller's token subject must be a positive user id
// (PERMISSION_DENIED otherwise), and every call is scoped to it, so another user's conversation is
// NOT_FOUND. A conversation's system prompt is shown as its first message, role "system".
//
// SendMessage uses the callback API, since its reply waits in a model's queue and no thread may
// wait with it: the handler appends the user's message (one short store call with its own
// deadline) and returns; the reply finishes the call. A client that leaves (or whose deadline
// passes) cancels the reply, and the conversation goes back to idle. The other methods are single
// short store calls, which is what the synchronous handler threads are for.
//
// Thread-safe. `orchestrator`, `store` and `authenticator` must outlive the server the service
// is registered with.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "libs/rpc/caller.h"
#include "services/llm/conversation_orchestrator.h"
#include "services/llm/conversation_store.h"
#include "spine/v1/llm.grpc.pb.h"

namespace spine::llm {

using ConversationServiceBase = spine::v1::ConversationService::WithCallbackMethod_SendMessage<
    spine::v1::ConversationService::Service>;

class ConversationService final : public ConversationServiceBase {
 public:
  // `store` serves the read paths (Get, List, Delete) directly; `max_message_chars` bounds a
  // message's content (in characters).
  ConversationService(ConversationOrchestrator& orchestrator, ConversationStore& store,
                      const rpc::Authenticator& authenticator, int64_t max_message_chars)
      : orchestrator_(orchestrator),
        store_(store),
        authenticator_(authenticator),
        max_message_chars_(max_message_chars) {}

  // NOT_FOUND (MODEL_NOT_FOUND) for an unknown model.
  grpc::Status CreateConversation(grpc::ServerContext* context,
                                  const spine::v1::CreateConversationRequest* request,
                                  spine::v1::Conversation* response) override;
  // The caller's conversations, without messages; page size and token go to the store as given.
  grpc::Status ListConversations(grpc::ServerContext* context,
                                 const spine::v1::ListConversationsRequest* request,
                                 spine::v1::ListConversationsResponse* response) override;
  grpc::Status GetConversation(grpc::ServerContext* context,
                               const spine::v1::GetConversationRequest* request,
                               spine::v1::Conversation* response) override;
  // Appends the message, waits for the reply and answers with it and the whole conversation.
  // INVALID_ARGUMENT for empty content or content over max_message_chars; ABORTED
  // (CONVERSATION_BUSY) while a reply is pending; the pool's errors as LlmService gives them.
  grpc::ServerUnaryReactor* SendMessage(grpc::CallbackServerContext* context,
                                        const spine::v1::SendMessageRequest* request,
                                        spine::v1::SendMessageResponse* response) override;
  grpc::Status DeleteConversation(grpc::ServerContext* context,
                                  const spine::v1::DeleteConversationRequest* request,
                                  google::protobuf::Empty* response) override;

 private:
  class SendReactor;

  // The calling user's id; PERMISSION_DENIED when the token's subject is not one.
  absl::StatusOr<int64_t> CallerUserId(const grpc::ServerContextBase& context) const;

  ConversationOrchestrator& orchestrator_;
  ConversationStore& store_;
  const rpc::Authenticator& authenticator_;
  const int64_t max_message_chars_;
};

}  // namespace spine::llm
