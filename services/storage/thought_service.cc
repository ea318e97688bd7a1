#include "services/storage/thought_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/time_util.h"
#include "libs/core/status.h"
#include "libs/rpc/status_convert.h"

namespace spine::storage {
namespace {

using google::protobuf::util::TimeUtil;

void ToProto(const Thought& thought, spine::v1::Thought* out) {
  out->set_id(thought.id);
  out->set_text(thought.text);
  for (const std::string& tag : thought.tags) out->add_tags(tag);
  *out->mutable_create_time() = TimeUtil::MicrosecondsToTimestamp(thought.create_micros);
  *out->mutable_update_time() = TimeUtil::MicrosecondsToTimestamp(thought.update_micros);
}

std::vector<std::string> Tags(const google::protobuf::RepeatedPtrField<std::string>& tags) {
  return {tags.begin(), tags.end()};
}

}  // namespace

absl::StatusOr<int64_t> ThoughtService::CallerUserId(const grpc::ServerContext& context) const {
  SPINE_ASSIGN_OR_RETURN(rpc::Caller caller, authenticator_.Authenticate(context));
  int64_t user_id = 0;
  if (!absl::SimpleAtoi(caller.user_id, &user_id) || user_id <= 0) {
    return absl::PermissionDeniedError("the token's subject is not a user id");
  }
  return user_id;
}

grpc::Status ThoughtService::CreateThought(grpc::ServerContext* context,
                                           const spine::v1::CreateThoughtRequest* request,
                                           spine::v1::Thought* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<Thought> thought =
      data_.CreateThought(*user, request->text(), Tags(request->tags()));
  if (!thought.ok()) return rpc::ToGrpcStatus(thought.status());
  ToProto(*thought, response);
  return grpc::Status::OK;
}

grpc::Status ThoughtService::GetThought(grpc::ServerContext* context,
                                        const spine::v1::GetThoughtRequest* request,
                                        spine::v1::Thought* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  absl::StatusOr<Thought> thought = data_.GetThought(*user, request->id());
  if (!thought.ok()) return rpc::ToGrpcStatus(thought.status());
  ToProto(*thought, response);
  return grpc::Status::OK;
}

grpc::Status ThoughtService::ListThoughts(grpc::ServerContext* context,
                                          const spine::v1::ListThoughtsRequest* request,
                                          spine::v1::ListThoughtsResponse* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  ListThoughtsParams params{.page_size = request->page_size(),
                            .page_token = request->page_token(),
                            .tag = request->tag(),
                            .query = request->query()};
  absl::StatusOr<ThoughtPage> page = data_.ListThoughts(*user, params);
  if (!page.ok()) return rpc::ToGrpcStatus(page.status());
  for (const Thought& thought : page->thoughts) ToProto(thought, response->add_thoughts());
  response->set_next_page_token(page->next_page_token);
  return grpc::Status::OK;
}

grpc::Status ThoughtService::UpdateThought(grpc::ServerContext* context,
                                           const spine::v1::UpdateThoughtRequest* request,
                                           spine::v1::Thought* response) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  std::optional<std::string> text;
  std::optional<std::vector<std::string>> tags;
  if (request->has_update_mask() && request->update_mask().paths_size() > 0) {
    // The mask says exactly which fields to replace (the gateway builds it from the body).
    for (const std::string& path : request->update_mask().paths()) {
      if (path == "text") {
        text = request->text();
      } else if (path == "tags") {
        tags = Tags(request->tags());
      } else {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            absl::StrCat("updateMask: unknown field '", path, "' (text, tags)"));
      }
    }
  } else {
    // Without a mask: the fields that are present (a non-empty tag list counts as present).
    if (request->has_text()) text = request->text();
    if (request->tags_size() > 0) tags = Tags(request->tags());
  }
  absl::StatusOr<Thought> thought = data_.UpdateThought(*user, request->id(), text, tags);
  if (!thought.ok()) return rpc::ToGrpcStatus(thought.status());
  ToProto(*thought, response);
  return grpc::Status::OK;
}

grpc::Status ThoughtService::DeleteThought(grpc::ServerContext* context,
                                           const spine::v1::DeleteThoughtRequest* request,
                                           google::protobuf::Empty* /*response*/) {
  absl::StatusOr<int64_t> user = CallerUserId(*context);
  if (!user.ok()) return rpc::ToGrpcStatus(user.status());
  return rpc::ToGrpcStatus(data_.DeleteThought(*user, request->id()));
}

}  // namespace spine::storage
