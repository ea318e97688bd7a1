#include "services/llm/conversation_service.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/time_util.h"
#include "libs/core/status.h"
#include "libs/core/utf8.h"
#include "libs/rpc/deadline.h"
#include "libs/rpc/request_id.h"
#include "libs/rpc/status_convert.h"

namespace spine::llm {
namespace {

using google::protobuf::util::TimeUtil;

void ToProto(const StoredMessage& message, spine::v1::Message* out) {
  out->set_role(message.role);
  out->set_content(message.content);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(message.create_micros);
}

// With `with_messages`, the system prompt (if any) comes first as a "system" message.
void ToProto(const StoredConversation& conversation, bool with_messages,
             spine::v1::Conversation* out) {
  out->set_id(conversation.id);
  out->set_model(conversation.model);
  out->set_title(conversation.title);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(conversation.create_micros);
  if (!with_messages) return;
  if (!conversation.system.empty()) {
    ToProto(StoredMessage{.role = "system",
                          .content = conversation.system,
                          .create_micros = conversation.create_micros},
            out->add_messages());
  }
  for (const StoredMessage& message : conversation.messages) ToProto(message, out->add_messages());
}

}  // namespace

// A SendMessage call: finished from the orchestrator's `done`; OnCancel cancels the reply.
class ConversationService::SendReactor final : public grpc::ServerUnaryReactor {
 public:
  void Start(ConversationOrchestrator& orchestrator, int64_t user_id, int64_t id,
             const std::string& content, absl::Time deadline, const std::string& request_id,
             spine::v1::SendMessageResponse* response) {
    // The response stays valid until Finish; nothing touches the reactor after Finish.
    absl::StatusOr<ReplyGenerator::Cancel> cancel = orchestrator.SendMessage(
        user_id, id, content, deadline, request_id,
        [this, response](absl::StatusOr<SendResult> result) {
          if (!result.ok()) return Finish(rpc::ToGrpcStatus(result.status()));
          ToProto(result->reply, response->mutable_reply());
          ToProto(result->conversation, /*with_messages=*/true, response->mutable_conversation());
          Finish(grpc::Status::OK);
        });
    if (!cancel.ok()) return Finish(rpc::ToGrpcStatus(cancel.status()));
    bool cancelled = false;
    {
      absl::MutexLock lock(&mu_);
      cancel_ = *cancel;
      cancelled = cancelled_;
    }
    if (cancelled) (*cancel)();
  }

  void OnCancel() override {
    ReplyGenerator::Cancel cancel;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      cancel = cancel_;
    }
    if (cancel) cancel();
  }

  void OnDone() override { delete this; }

 private:
  absl::Mutex mu_;
  ReplyGenerator::Cancel cancel_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

absl::StatusOr<int64_t> ConversationService::CallerUserId(
    const grpc::ServerContextBase& context) const {
  SPINE_ASSIGN_OR_RETURN(rpc::Caller caller, authenticator_.Authenticate(context));
  int64_t user_id = 0;
  if (!absl::SimpleAtoi(caller.user_id, &user_id) || user_id <= 0) {
    return absl::PermissionDeniedError("conversations belong to users");
  }
  return user_id;
}

grpc::Status ConversationService::CreateConversation(
    grpc::ServerContext* context, const spine::v1::CreateConversationRequest* request,
    spine::v1::Conversation* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<StoredConversation> conversation =
      orchestrator_.Create(*user, request->model(), request->title(), request->system());
  if (!conversation.ok()) return rpc::ToGrpcStatus(conversation.status());
  ToProto(*conversation, /*with_messages=*/true, response);
  return grpc::Status::OK;
}

grpc::Status ConversationService::ListConversations(
    grpc::ServerContext* context, const spine::v1::ListConversationsRequest* request,
    spine::v1::ListConversationsResponse* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<StoredConversationPage> page =
      store_.List(*user, request->page_size(), request->page_token());
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (const StoredConversation& conversation : page->conversations) {
    ToProto(conversation, /*with_messages=*/false, response->add_conversations());
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status ConversationService::GetConversation(grpc::ServerContext* context,
                                                  const spine::v1::GetConversationRequest* request,
                                                  spine::v1::Conversation* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<StoredConversation> conversation =
      store_.Get(*user, request->id(), /*with_messages=*/true);
  if (!conversation.ok()) return rpc::ToGrpcStatus(conversation.status());
  ToProto(*conversation, /*with_messages=*/true, response);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* ConversationService::SendMessage(
    grpc::CallbackServerContext* context, const spine::v1::SendMessageRequest* request,
    spine::v1::SendMessageResponse* response) {
  // gRPC's callback API owns reactors this way: created here, deleted in OnDone.
  auto* reactor = new SendReactor();
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) {
    reactor->Finish(rpc::ToGrpcStatus(user.status()));
    return reactor;
  }
  // Characters are code points; proto3 has already checked that the content is UTF-8.
  const auto chars = static_cast<int64_t>(CheckUtf8(request->content()).code_points);
  if (chars == 0 || chars > max_message_chars_) {
    reactor->Finish(rpc::ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("content: ", chars, " characters, must be 1..", max_message_chars_))));
    return reactor;
  }
  reactor->Start(orchestrator_, *user, request->id(), request->content(), rpc::DeadlineOf(*context),
                 rpc::RequestIdOf(*context), response);
  return reactor;
}

grpc::Status ConversationService::DeleteConversation(
    grpc::ServerContext* context, const spine::v1::DeleteConversationRequest* request,
    google::protobuf::Empty* /*response*/) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  return rpc::ToGrpcStatus(store_.Delete(*user, request->id()));
}

}  // namespace spine::llm
