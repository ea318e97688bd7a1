#include "services/storage/storage_service.h"

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "libs/core/status.h"
#include "libs/rpc/service_access.h"
#include "libs/rpc/status_convert.h"
#include "nlohmann/json.hpp"

namespace spine::storage {
namespace {

using google::protobuf::util::TimeUtil;

void ToProto(const User& user, spine::v1::UserRecord* out) {
  out->set_id(user.id);
  out->set_username(user.username);
  out->set_role(user.role);
  out->set_password_hash(user.password_hash);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(user.create_micros);
  out->set_disabled(user.disabled);
}

void ToProto(const ApiKey& key, spine::v1::ApiKeyRecord* out) {
  out->set_id(key.id);
  out->set_user_id(key.user_id);
  out->set_name(key.name);
  out->set_scope(key.scope);
  out->set_prefix(key.prefix);
  out->set_secret_hash(key.secret_hash);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(key.create_micros);
  *out->mutable_expire_time() = TimeUtil::MicrosecondsToTimestamp(key.expire_micros);
  if (key.last_used_micros != 0) {
    *out->mutable_last_use_time() = TimeUtil::MicrosecondsToTimestamp(key.last_used_micros);
  }
  if (key.revoke_micros != 0) {
    *out->mutable_revoke_time() = TimeUtil::MicrosecondsToTimestamp(key.revoke_micros);
  }
}

void ToProto(const LoginLock& lock, spine::v1::LoginLockState* out) {
  out->set_failures_in_window(lock.failures_in_window);
  out->set_locked(lock.locked);
  if (lock.locked)
    *out->mutable_locked_until() = TimeUtil::MicrosecondsToTimestamp(lock.locked_until_micros);
}

void ToProto(const RefreshToken& token, spine::v1::RefreshTokenRecord* out) {
  out->set_user_id(token.user_id);
  out->set_family_id(token.family_id);
  *out->mutable_expire_time() = TimeUtil::MicrosecondsToTimestamp(token.expire_micros);
}

LockoutPolicy PolicyFrom(const spine::v1::RecordLoginFailureRequest& request) {
  return {.window_micros = int64_t{request.window_seconds()} * 1'000'000,
          .max_failures = request.max_failures(),
          .lock_micros = int64_t{request.lock_seconds()} * 1'000'000};
}

int64_t Micros(const google::protobuf::Timestamp& timestamp) {
  return TimeUtil::TimestampToMicroseconds(timestamp);
}

// An event a service asks to append; the service is the caller's, never the request's.
absl::StatusOr<AuditEvent> FromProto(const spine::v1::AuditEvent& in, const rpc::Caller& caller) {
  // A service records only its own acts (its declared action prefixes), and names as the actor
  // either itself or the user it acted for: never another service.
  if (!rpc::MayRecordAuditAction(caller.user_id, in.action())) {
    return absl::PermissionDeniedError(
        absl::StrCat("action: '", in.action().substr(0, 64), "' is not an act of service '",
                     caller.user_id.substr(0, 64), "' (see audit_action_prefix)"));
  }
  // A user id in its one canonical spelling ("7", never "007", "+7" or " 7"), so listing by
  // actor finds every act in that user's name.
  int64_t user_id = 0;
  const bool is_user =
      absl::SimpleAtoi(in.actor(), &user_id) && user_id > 0 && absl::StrCat(user_id) == in.actor();
  if (in.actor() != caller.user_id && !is_user) {
    return absl::PermissionDeniedError(
        absl::StrCat("actor: '", absl::CHexEscape(in.actor().substr(0, 64)),
                     "' is neither a user id (decimal, no sign or leading zero) nor service '",
                     caller.user_id.substr(0, 64), "'"));
  }
  AuditEvent event{.actor = in.actor(),
                   .service = caller.user_id,
                   .action = in.action(),
                   .target = in.target(),
                   .outcome = in.outcome(),
                   .request_id = in.request_id().empty() ? caller.request_id : in.request_id()};
  if (in.has_details()) {
    const auto printed =
        google::protobuf::util::MessageToJsonString(in.details(), &event.details_json);
    if (!printed.ok()) return absl::InvalidArgumentError("details: not a JSON object");
  }
  return event;
}

absl::Status ToProto(const AuditEvent& event, spine::v1::AuditEvent* out) {
  out->set_id(event.id);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(event.create_micros);
  out->set_actor(event.actor);
  out->set_service(event.service);
  out->set_action(event.action);
  out->set_target(event.target);
  out->set_outcome(event.outcome);
  out->set_request_id(event.request_id);
  const auto parsed =
      google::protobuf::util::JsonStringToMessage(event.details_json, out->mutable_details());
  if (!parsed.ok()) return absl::DataLossError("a stored audit event has malformed details");
  return absl::OkStatus();
}

void ToProto(const ConversationMessage& message, spine::v1::ConversationMessageRecord* out) {
  out->set_role(message.role);
  out->set_content(message.content);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(message.create_micros);
}

void ToProto(const Conversation& conversation, spine::v1::ConversationRecord* out) {
  out->set_id(conversation.id);
  out->set_user_id(conversation.user_id);
  out->set_model(conversation.model);
  out->set_title(conversation.title);
  out->set_system(conversation.system);
  out->set_state(conversation.state);
  for (const ConversationMessage& message : conversation.messages) {
    ToProto(message, out->add_messages());
  }
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(conversation.create_micros);
}

absl::Status ToProto(const Pipeline& pipeline, spine::v1::PipelineRecord* out) {
  out->set_id(pipeline.id);
  out->set_user_id(pipeline.user_id);
  out->set_name(pipeline.name);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(pipeline.create_micros);
  const auto parsed = google::protobuf::util::JsonStringToMessage(pipeline.definition_json,
                                                                  out->mutable_definition());
  if (!parsed.ok()) return absl::DataLossError("a stored pipeline has a malformed definition");
  return absl::OkStatus();
}

void ToProto(const RunRecord& run, spine::v1::RunRecord* out) {
  out->set_id(run.id);
  out->set_user_id(run.user_id);
  out->set_pipeline_id(run.pipeline_id);
  out->set_state(run.state);
  out->set_idempotency_key(run.idempotency_key);
  out->set_run(run.payload);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(run.create_micros);
  *out->mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(run.update_micros);
}

RunRecord FromProto(const spine::v1::RunRecord& in) {
  return RunRecord{.id = in.id(),
                   .user_id = in.user_id(),
                   .pipeline_id = in.pipeline_id(),
                   .state = in.state(),
                   .idempotency_key = in.idempotency_key(),
                   .payload = in.run()};
}

}  // namespace

// Every handler starts the same way: only a verified service token gets further.
#define SPINE_REQUIRE_CALLER(context)                                               \
  if (absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*(context)); \
      !caller.ok()) {                                                               \
    return rpc::ToGrpcStatus(caller.status());                                      \
  }

grpc::Status StorageService::CreateUserRecord(grpc::ServerContext* context,
                                              const spine::v1::CreateUserRecordRequest* request,
                                              spine::v1::UserRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto user =
      data_.users.CreateUser(request->username(), request->role(), request->password_hash());
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  ToProto(*user, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::GetUserRecord(grpc::ServerContext* context,
                                           const spine::v1::GetUserRecordRequest* request,
                                           spine::v1::UserRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  absl::StatusOr<User> user = absl::InvalidArgumentError("key: set id or username");
  if (request->has_id()) user = data_.users.GetUserById(request->id());
  if (request->has_username()) user = data_.users.GetUserByName(request->username());
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  ToProto(*user, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::ListUserRecords(grpc::ServerContext* context,
                                             const spine::v1::ListUserRecordsRequest* /*request*/,
                                             spine::v1::ListUserRecordsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto users = data_.users.ListUsers();
  if (!users.ok()) return rpc::ToGrpcStatus(users.status());
  for (const User& user : *users) ToProto(user, response->add_users());
  return grpc::Status::OK;
}

grpc::Status StorageService::CountUsers(grpc::ServerContext* context,
                                        const spine::v1::CountUsersRequest* /*request*/,
                                        spine::v1::CountUsersResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto users = data_.users.ListUsers();
  if (!users.ok()) return rpc::ToGrpcStatus(users.status());
  response->set_count(static_cast<int64_t>(users->size()));
  return grpc::Status::OK;
}

grpc::Status StorageService::UpdateUserRecord(grpc::ServerContext* context,
                                              const spine::v1::UpdateUserRecordRequest* request,
                                              spine::v1::UserRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  std::optional<std::string> role;
  std::optional<bool> disabled;
  std::optional<std::string> password_hash;
  if (request->has_role()) role = request->role();
  if (request->has_disabled()) disabled = request->disabled();
  if (request->has_password_hash()) password_hash = request->password_hash();
  auto user =
      data_.users.UpdateUser(request->id(), std::move(role), disabled, std::move(password_hash));
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  ToProto(*user, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::DeleteUserRecord(grpc::ServerContext* context,
                                              const spine::v1::DeleteUserRecordRequest* request,
                                              google::protobuf::Empty* /*response*/) {
  SPINE_REQUIRE_CALLER(context);
  return rpc::ToGrpcStatus(data_.users.DeleteUser(request->id()));
}

grpc::Status StorageService::CreateApiKeyRecord(grpc::ServerContext* context,
                                                const spine::v1::CreateApiKeyRecordRequest* request,
                                                spine::v1::ApiKeyRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  const spine::v1::ApiKeyRecord& in = request->key();
  auto key = data_.api_keys.CreateApiKey(ApiKey{.user_id = in.user_id(),
                                                .name = in.name(),
                                                .scope = in.scope(),
                                                .prefix = in.prefix(),
                                                .secret_hash = in.secret_hash(),
                                                .expire_micros = Micros(in.expire_time())});
  if (!key.ok()) return rpc::ToGrpcStatus(key.status());
  ToProto(*key, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::GetApiKeyRecord(grpc::ServerContext* context,
                                             const spine::v1::GetApiKeyRecordRequest* request,
                                             spine::v1::ApiKeyRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto key = data_.api_keys.GetApiKeyByPrefix(request->prefix());
  if (!key.ok()) return rpc::ToGrpcStatus(key.status());
  ToProto(*key, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::ListApiKeyRecords(grpc::ServerContext* context,
                                               const spine::v1::ListApiKeyRecordsRequest* request,
                                               spine::v1::ListApiKeyRecordsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto keys = data_.api_keys.ListApiKeys(request->user_id());
  if (!keys.ok()) return rpc::ToGrpcStatus(keys.status());
  for (const ApiKey& key : *keys) ToProto(key, response->add_keys());
  return grpc::Status::OK;
}

grpc::Status StorageService::RevokeApiKeyRecord(grpc::ServerContext* context,
                                                const spine::v1::RevokeApiKeyRecordRequest* request,
                                                spine::v1::ApiKeyRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto key = data_.api_keys.RevokeApiKey(request->user_id(), request->id());
  if (!key.ok()) return rpc::ToGrpcStatus(key.status());
  ToProto(*key, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::TouchApiKeyRecord(grpc::ServerContext* context,
                                               const spine::v1::TouchApiKeyRecordRequest* request,
                                               google::protobuf::Empty* /*response*/) {
  SPINE_REQUIRE_CALLER(context);
  return rpc::ToGrpcStatus(data_.api_keys.TouchApiKey(request->id()));
}

grpc::Status StorageService::RecordLoginFailure(grpc::ServerContext* context,
                                                const spine::v1::RecordLoginFailureRequest* request,
                                                spine::v1::LoginLockState* response) {
  SPINE_REQUIRE_CALLER(context);
  auto lock = data_.login_locks.RecordLoginFailure(request->username(), PolicyFrom(*request));
  if (!lock.ok()) return rpc::ToGrpcStatus(lock.status());
  ToProto(*lock, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::GetLoginLock(grpc::ServerContext* context,
                                          const spine::v1::GetLoginLockRequest* request,
                                          spine::v1::LoginLockState* response) {
  SPINE_REQUIRE_CALLER(context);
  // The window only matters for the failure count; a lock is a lock. One day covers any policy.
  const LockoutPolicy policy{
      .window_micros = int64_t{86400} * 1'000'000, .max_failures = 1, .lock_micros = 1'000'000};
  auto lock = data_.login_locks.GetLoginLock(request->username(), policy);
  if (!lock.ok()) return rpc::ToGrpcStatus(lock.status());
  ToProto(*lock, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::ResetLoginFailures(grpc::ServerContext* context,
                                                const spine::v1::ResetLoginFailuresRequest* request,
                                                google::protobuf::Empty* /*response*/) {
  SPINE_REQUIRE_CALLER(context);
  return rpc::ToGrpcStatus(data_.login_locks.ResetLoginFailures(request->username()));
}

grpc::Status StorageService::CreateRefreshToken(grpc::ServerContext* context,
                                                const spine::v1::CreateRefreshTokenRequest* request,
                                                spine::v1::RefreshTokenRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto token =
      data_.refresh_tokens.CreateRefreshToken(request->user_id(), request->token_hash(),
                                              request->family_id(), Micros(request->expire_time()));
  if (!token.ok()) return rpc::ToGrpcStatus(token.status());
  ToProto(*token, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::RotateRefreshToken(grpc::ServerContext* context,
                                                const spine::v1::RotateRefreshTokenRequest* request,
                                                spine::v1::RefreshTokenRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto token =
      data_.refresh_tokens.RotateRefreshToken(request->presented_hash(), request->successor_hash(),
                                              Micros(request->successor_expire_time()));
  if (!token.ok()) return rpc::ToGrpcStatus(token.status());
  ToProto(*token, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::RevokeRefreshFamily(
    grpc::ServerContext* context, const spine::v1::RevokeRefreshFamilyRequest* request,
    google::protobuf::Empty* /*response*/) {
  SPINE_REQUIRE_CALLER(context);
  return rpc::ToGrpcStatus(data_.refresh_tokens.RevokeRefreshFamily(request->token_hash()));
}

grpc::Status StorageService::CreateConversationRecord(
    grpc::ServerContext* context, const spine::v1::CreateConversationRecordRequest* request,
    spine::v1::ConversationRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  // A new conversation waits for its first turn.
  auto conversation = data_.conversations.CreateConversation(
      request->user_id(), request->model(), request->title(), request->system(), "idle");
  if (!conversation.ok()) return rpc::ToGrpcStatus(conversation.status());
  ToProto(*conversation, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::GetConversationRecord(
    grpc::ServerContext* context, const spine::v1::GetConversationRecordRequest* request,
    spine::v1::ConversationRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto conversation = data_.conversations.GetConversation(request->user_id(), request->id(),
                                                          request->include_messages());
  if (!conversation.ok()) return rpc::ToGrpcStatus(conversation.status());
  ToProto(*conversation, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::ListConversationRecords(
    grpc::ServerContext* context, const spine::v1::ListConversationRecordsRequest* request,
    spine::v1::ListConversationRecordsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto page = data_.conversations.ListConversations(request->user_id(), request->page_size(),
                                                    request->page_token());
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (const Conversation& conversation : page->conversations) {
    ToProto(conversation, response->add_conversations());
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status StorageService::AppendConversationMessages(
    grpc::ServerContext* context, const spine::v1::AppendConversationMessagesRequest* request,
    spine::v1::ConversationRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  ConversationAppend append{.expect_state = request->expect_state(),
                            .new_state = request->new_state()};
  append.messages.reserve(request->messages_size());
  for (const spine::v1::ConversationMessageRecord& message : request->messages()) {
    append.messages.push_back(
        {.role = message.role(),
         .content = message.content(),
         .create_micros = message.has_create_time() ? Micros(message.create_time()) : 0});
  }
  auto conversation = data_.conversations.AppendConversationMessages(
      request->user_id(), request->id(), std::move(append));
  if (!conversation.ok()) return rpc::ToGrpcStatus(conversation.status());
  ToProto(*conversation, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::DeleteConversationRecord(
    grpc::ServerContext* context, const spine::v1::DeleteConversationRecordRequest* request,
    google::protobuf::Empty* /*response*/) {
  SPINE_REQUIRE_CALLER(context);
  return rpc::ToGrpcStatus(
      data_.conversations.DeleteConversation(request->user_id(), request->id()));
}

grpc::Status StorageService::CreatePipelineRecord(
    grpc::ServerContext* context, const spine::v1::CreatePipelineRecordRequest* request,
    spine::v1::PipelineRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  std::string definition_json;
  if (!google::protobuf::util::MessageToJsonString(request->definition(), &definition_json).ok()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "definition: not a JSON object");
  }
  auto pipeline =
      data_.pipelines.CreatePipeline(request->user_id(), request->name(), definition_json);
  if (!pipeline.ok()) return rpc::ToGrpcStatus(pipeline.status());
  return rpc::ToGrpcStatus(ToProto(*pipeline, response));
}

grpc::Status StorageService::GetPipelineRecord(grpc::ServerContext* context,
                                               const spine::v1::GetPipelineRecordRequest* request,
                                               spine::v1::PipelineRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto pipeline = data_.pipelines.GetPipeline(request->user_id(), request->id());
  if (!pipeline.ok()) return rpc::ToGrpcStatus(pipeline.status());
  return rpc::ToGrpcStatus(ToProto(*pipeline, response));
}

grpc::Status StorageService::ListPipelineRecords(
    grpc::ServerContext* context, const spine::v1::ListPipelineRecordsRequest* request,
    spine::v1::ListPipelineRecordsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto page = data_.pipelines.ListPipelines(request->user_id(), request->page_size(),
                                            request->page_token());
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (const Pipeline& pipeline : page->pipelines) {
    if (absl::Status status = ToProto(pipeline, response->add_pipelines()); !status.ok()) {
      return rpc::ToGrpcStatus(status);
    }
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status StorageService::DeletePipelineRecord(
    grpc::ServerContext* context, const spine::v1::DeletePipelineRecordRequest* request,
    google::protobuf::Empty* /*response*/) {
  SPINE_REQUIRE_CALLER(context);
  return rpc::ToGrpcStatus(data_.pipelines.DeletePipeline(request->user_id(), request->id()));
}

grpc::Status StorageService::CreateRunRecord(grpc::ServerContext* context,
                                             const spine::v1::CreateRunRecordRequest* request,
                                             spine::v1::CreateRunRecordResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto inserted = data_.runs.CreateRun(FromProto(request->run()));
  if (!inserted.ok()) return rpc::ToGrpcStatus(inserted.status());
  ToProto(inserted->run, response->mutable_run());
  response->set_created(inserted->created);
  return grpc::Status::OK;
}

grpc::Status StorageService::UpdateRunRecord(grpc::ServerContext* context,
                                             const spine::v1::UpdateRunRecordRequest* request,
                                             spine::v1::RunRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto run = data_.runs.UpdateRun(FromProto(request->run()));
  if (!run.ok()) return rpc::ToGrpcStatus(run.status());
  ToProto(*run, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::GetRunRecord(grpc::ServerContext* context,
                                          const spine::v1::GetRunRecordRequest* request,
                                          spine::v1::RunRecord* response) {
  SPINE_REQUIRE_CALLER(context);
  auto run = data_.runs.GetRun(request->user_id(), request->id());
  if (!run.ok()) return rpc::ToGrpcStatus(run.status());
  ToProto(*run, response);
  return grpc::Status::OK;
}

grpc::Status StorageService::ListRunRecords(grpc::ServerContext* context,
                                            const spine::v1::ListRunRecordsRequest* request,
                                            spine::v1::ListRunRecordsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  ListRunsParams params{.user_id = request->user_id(),
                        .pipeline_id = request->pipeline_id(),
                        .state = request->state(),
                        .unfinished_states = {request->unfinished_states().begin(),
                                              request->unfinished_states().end()},
                        .page_size = request->page_size(),
                        .page_token = request->page_token()};
  auto page = data_.runs.ListRuns(params);
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (const RunRecord& run : page->runs) ToProto(run, response->add_runs());
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status StorageService::AppendAuditEvent(grpc::ServerContext* context,
                                              const spine::v1::AppendAuditEventRequest* request,
                                              spine::v1::AuditEvent* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  absl::StatusOr<AuditEvent> event = FromProto(request->event(), *caller);
  if (!event.ok()) return rpc::ToGrpcStatus(event.status());
  auto stored = data_.audit_log.AppendAuditEvent(*std::move(event));
  if (!stored.ok()) return rpc::ToGrpcStatus(stored.status());
  return rpc::ToGrpcStatus(ToProto(*stored, response));
}

grpc::Status StorageService::AppendAuditEvents(grpc::ServerContext* context,
                                               const spine::v1::AppendAuditEventsRequest* request,
                                               spine::v1::AppendAuditEventsResponse* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  std::vector<AuditEvent> events;
  events.reserve(request->events_size());
  for (int i = 0; i < request->events_size(); ++i) {
    absl::StatusOr<AuditEvent> event = FromProto(request->events(i), *caller);
    if (!event.ok()) {
      return rpc::ToGrpcStatus(absl::Status(
          event.status().code(), absl::StrCat("events[", i, "].", event.status().message())));
    }
    events.push_back(*std::move(event));
  }
  absl::StatusOr<int> appended = data_.audit_log.AppendAuditEvents(std::move(events));
  if (!appended.ok()) return rpc::ToGrpcStatus(appended.status());
  response->set_appended(*appended);
  return grpc::Status::OK;
}

grpc::Status StorageService::ListAuditEvents(grpc::ServerContext* context,
                                             const spine::v1::ListAuditEventsRequest* request,
                                             spine::v1::ListAuditEventsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  ListAuditParams params{.actor = request->actor(),
                         .action = request->action(),
                         .page_size = request->page_size(),
                         .page_token = request->page_token()};
  if (request->has_start_time()) params.start_micros = Micros(request->start_time());
  if (request->has_end_time()) params.end_micros = Micros(request->end_time());
  auto page = data_.audit_log.ListAuditEvents(params);
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (const AuditEvent& event : page->events) {
    if (absl::Status status = ToProto(event, response->add_events()); !status.ok()) {
      return rpc::ToGrpcStatus(status);
    }
  }
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status StorageService::BackupDatabase(grpc::ServerContext* context,
                                            const spine::v1::BackupDatabaseRequest* request,
                                            spine::v1::BackupDatabaseResponse* response) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  auto size = data_.backups.Backup(request->file_name());
  // Operators' actions are audited, failures included.
  nlohmann::json details = {{"sizeBytes", size.ok() ? *size : 0}};
  if (!size.ok()) details["error"] = std::string(size.status().message());
  const auto audited = data_.audit_log.AppendAuditEvent(AuditEvent{
      .actor = caller->user_id,
      .service = "storage",
      .action = "storage.backup",
      .target = absl::StrCat("backup:", request->file_name().substr(0, 64)),
      .outcome = size.ok() ? "ok" : "error",
      .details_json = details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      .request_id = caller->request_id});
  if (!audited.ok()) return rpc::ToGrpcStatus(audited.status());
  if (!size.ok()) return rpc::ToGrpcStatus(size.status());
  response->set_file_name(request->file_name());
  response->set_size_bytes(*size);
  return grpc::Status::OK;
}

grpc::Status StorageService::ListBackups(grpc::ServerContext* context,
                                         const spine::v1::ListBackupsRequest* /*request*/,
                                         spine::v1::ListBackupsResponse* response) {
  SPINE_REQUIRE_CALLER(context);
  auto files = data_.backups.List();
  if (!files.ok()) return rpc::ToGrpcStatus(files.status());
  for (const BackupFileInfo& file : *files) {
    spine::v1::BackupFile* out = response->add_backups();
    out->set_file_name(file.file_name);
    out->set_size_bytes(file.size_bytes);
    *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(file.modify_micros);
  }
  return grpc::Status::OK;
}

grpc::Status StorageService::DownloadBackup(grpc::ServerContext* context,
                                            const spine::v1::DownloadBackupRequest* request,
                                            grpc::ServerWriter<spine::api::HttpBody>* writer) {
  absl::StatusOr<rpc::Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  constexpr size_t kChunkBytes = size_t{64} * 1024;
  int64_t sent = 0;
  absl::Status status = [&]() -> absl::Status {
    SPINE_ASSIGN_OR_RETURN(std::unique_ptr<BackupReader> reader,
                           data_.backups.Open(request->file_name()));
    spine::api::HttpBody chunk;
    chunk.set_content_type("application/vnd.sqlite3");
    chunk.set_file_name(request->file_name());
    for (bool first = true;; first = false) {
      SPINE_ASSIGN_OR_RETURN(std::string data, reader->Read(kChunkBytes));
      // The first message goes out even for an empty file: it carries the head.
      if (data.empty() && !first) return absl::OkStatus();
      sent += static_cast<int64_t>(data.size());
      *chunk.mutable_data() = std::move(data);
      if (!writer->Write(chunk)) return absl::CancelledError("the client went away");
      chunk.clear_content_type();
      chunk.clear_file_name();
      if (chunk.data().empty()) return absl::OkStatus();
    }
  }();
  nlohmann::json details = {{"sentBytes", sent}};
  if (!status.ok()) details["error"] = std::string(status.message());
  const auto audited = data_.audit_log.AppendAuditEvent(AuditEvent{
      .actor = caller->user_id,
      .service = "storage",
      .action = "storage.backup_download",
      .target = absl::StrCat("backup:", request->file_name().substr(0, 64)),
      .outcome = status.ok() ? "ok" : "error",
      .details_json = details.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
      .request_id = caller->request_id});
  if (!status.ok()) return rpc::ToGrpcStatus(status);
  if (!audited.ok()) return rpc::ToGrpcStatus(audited.status());
  return grpc::Status::OK;
}

#undef SPINE_REQUIRE_CALLER

}  // namespace spine::storage
