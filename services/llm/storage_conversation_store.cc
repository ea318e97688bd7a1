#include "services/llm/storage_conversation_store.h"

#include "google/protobuf/util/time_util.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/status_convert.h"

namespace spine::llm {
namespace {

using google::protobuf::util::TimeUtil;

StoredConversation FromRecord(const spine::v1::ConversationRecord& record) {
  StoredConversation conversation{
      .id = record.id(),
      .user_id = record.user_id(),
      .model = record.model(),
      .title = record.title(),
      .system = record.system(),
      .state = record.state(),
      .create_micros = TimeUtil::TimestampToMicroseconds(record.create_time())};
  conversation.messages.reserve(record.messages_size());
  for (const auto& message : record.messages()) {
    conversation.messages.push_back(
        {.role = message.role(),
         .content = message.content(),
         .create_micros = TimeUtil::TimestampToMicroseconds(message.create_time())});
  }
  return conversation;
}

}  // namespace

StorageConversationStore::StorageConversationStore(std::shared_ptr<grpc::Channel> storage,
                                                   const std::string& service_token,
                                                   absl::Duration deadline)
    : stub_(spine::v1::StorageService::NewStub(std::move(storage))),
      authorization_("Bearer " + service_token),
      deadline_(deadline) {}

std::unique_ptr<grpc::ClientContext> StorageConversationStore::Context() const {
  auto context = rpc::MakeClientContext(deadline_);
  context->AddMetadata("authorization", authorization_);
  return context;
}

absl::StatusOr<StoredConversation> StorageConversationStore::Create(int64_t user_id,
                                                                    const std::string& model,
                                                                    const std::string& title,
                                                                    const std::string& system) {
  spine::v1::CreateConversationRecordRequest request;
  request.set_user_id(user_id);
  request.set_model(model);
  request.set_title(title);
  request.set_system(system);
  spine::v1::ConversationRecord record;
  const grpc::Status status = stub_->CreateConversationRecord(Context().get(), request, &record);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return FromRecord(record);
}

absl::StatusOr<StoredConversation> StorageConversationStore::Get(int64_t user_id, int64_t id,
                                                                 bool with_messages) {
  spine::v1::GetConversationRecordRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  request.set_include_messages(with_messages);
  spine::v1::ConversationRecord record;
  const grpc::Status status = stub_->GetConversationRecord(Context().get(), request, &record);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return FromRecord(record);
}

absl::StatusOr<StoredConversationPage> StorageConversationStore::List(
    int64_t user_id, int page_size, const std::string& page_token) {
  spine::v1::ListConversationRecordsRequest request;
  request.set_user_id(user_id);
  request.set_page_size(page_size);
  request.set_page_token(page_token);
  spine::v1::ListConversationRecordsResponse response;
  const grpc::Status status = stub_->ListConversationRecords(Context().get(), request, &response);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  StoredConversationPage page{.next_page_token = response.next_page_token()};
  page.conversations.reserve(response.conversations_size());
  for (const auto& record : response.conversations()) {
    page.conversations.push_back(FromRecord(record));
  }
  return page;
}

absl::StatusOr<StoredConversation> StorageConversationStore::Append(
    int64_t user_id, int64_t id, const std::string& expect_state, const std::string& new_state,
    const std::vector<StoredMessage>& messages) {
  spine::v1::AppendConversationMessagesRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  request.set_expect_state(expect_state);
  request.set_new_state(new_state);
  for (const StoredMessage& message : messages) {
    auto* record = request.add_messages();
    record->set_role(message.role);
    record->set_content(message.content);
    if (message.create_micros != 0) {
      *record->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(message.create_micros);
    }
  }
  spine::v1::ConversationRecord record;
  const grpc::Status status = stub_->AppendConversationMessages(Context().get(), request, &record);
  if (!status.ok()) return rpc::FromGrpcStatus(status);
  return FromRecord(record);
}

absl::Status StorageConversationStore::Delete(int64_t user_id, int64_t id) {
  spine::v1::DeleteConversationRecordRequest request;
  request.set_user_id(user_id);
  request.set_id(id);
  google::protobuf::Empty empty;
  return rpc::FromGrpcStatus(stub_->DeleteConversationRecord(Context().get(), request, &empty));
}

}  // namespace spine::llm
