// DataAccessService: conversations, pipelines and runs (see data_access_service.h).
#include <array>

#include "absl/algorithm/container.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "libs/core/status.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"
#include "services/storage/data_access_service.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"
#include "services/storage/thought_validation.h"

namespace spine::storage {
namespace {

constexpr size_t kMaxModelChars = 128;
constexpr size_t kMaxTitleChars = 256;
constexpr size_t kMaxNameChars = 128;
constexpr size_t kMaxStateChars = 32;
constexpr size_t kMaxIdempotencyKeyChars = 128;
constexpr size_t kMaxPromptBytes = size_t{1} << 20;
constexpr size_t kMaxDefinitionBytes = size_t{256} * 1024;
constexpr size_t kMaxRunPayloadBytes = size_t{4} << 20;
constexpr size_t kMaxMessagesPerAppend = 16;

constexpr char kConversationNotFound[] = "CONVERSATION_NOT_FOUND";
constexpr char kPipelineNotFound[] = "PIPELINE_NOT_FOUND";
constexpr char kRunNotFound[] = "RUN_NOT_FOUND";

constexpr std::array<const char*, 5> kRunStates = {"QUEUED", "RUNNING", "SUCCEEDED", "FAILED",
                                                   "CANCELLED"};
// A run in one of these never changes again.
const std::vector<std::string>& FinalRunStates() {
  static const std::vector<std::string> states = {"SUCCEEDED", "FAILED", "CANCELLED"};
  return states;
}

absl::Status CheckOwner(int64_t user_id) {
  if (user_id <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("userId: ", user_id, " is not a user id"));
  }
  return absl::OkStatus();
}

absl::Status CheckRecordId(absl::string_view kind, int64_t id) {
  if (id <= 0)
    return absl::InvalidArgumentError(absl::StrCat("id: ", id, " is not a ", kind, " id"));
  return absl::OkStatus();
}

// `value` is valid UTF-8 of min..max code points; with `single_line`, no C0 control or DEL.
absl::Status CheckText(absl::string_view field, absl::string_view value, size_t min_chars,
                       size_t max_chars, bool single_line) {
  const Utf8Check utf8 = CheckUtf8(value);
  if (!utf8.valid) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not valid UTF-8 (byte ", utf8.bad_offset, ")"));
  }
  if (utf8.code_points < min_chars || utf8.code_points > max_chars) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": ", utf8.code_points, " characters, must be ", min_chars, "..", max_chars));
  }
  if (single_line && absl::c_any_of(value, [](char c) {
        return static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
      })) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": contains a control character"));
  }
  return absl::OkStatus();
}

absl::Status CheckBytes(absl::string_view field, absl::string_view value, size_t max_bytes) {
  if (value.size() > max_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": ", value.size(), " bytes, at most ", max_bytes));
  }
  return absl::OkStatus();
}

absl::Status CheckConversationState(absl::string_view field, absl::string_view state) {
  const bool ok = !state.empty() && state.size() <= kMaxStateChars &&
                  absl::c_all_of(state, [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; });
  if (!ok) return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1..32 of a-z and _"));
  return absl::OkStatus();
}

absl::Status CheckRunState(absl::string_view field, absl::string_view state) {
  if (absl::c_find(kRunStates, state) == kRunStates.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": '", state.substr(0, 32), "', must be one of ", absl::StrJoin(kRunStates, ", ")));
  }
  return absl::OkStatus();
}

absl::Status CheckRun(const RunRecord& run) {
  SPINE_RETURN_IF_ERROR(CheckOwner(run.user_id));
  if (run.pipeline_id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipelineId: ", run.pipeline_id, " is not a pipeline id"));
  }
  SPINE_RETURN_IF_ERROR(CheckRunState("state", run.state));
  const bool key_ok =
      run.idempotency_key.size() <= kMaxIdempotencyKeyChars &&
      absl::c_all_of(run.idempotency_key, [](char c) { return c > 0x20 && c < 0x7f; });
  if (!key_ok) {
    return absl::InvalidArgumentError(
        "idempotencyKey: at most 128 printable ASCII characters without spaces");
  }
  return CheckBytes("run", run.payload, kMaxRunPayloadBytes);
}

// Page tokens are bound to the listing kind, the user and every filter.
std::string OwnedBinding(absl::string_view kind, int64_t user_id) {
  return absl::StrCat(kind, "\nuser=", user_id);
}

std::string RunBinding(const ListRunsParams& params) {
  return absl::StrCat("runs\nuser=", params.user_id, "\npipeline=", params.pipeline_id,
                      "\nstate=", params.state,
                      "\nunfinished=", absl::StrJoin(params.unfinished_states, ","));
}

}  // namespace

absl::StatusOr<Conversation> DataAccessService::CreateConversation(int64_t user_id,
                                                                   const std::string& model,
                                                                   const std::string& title,
                                                                   const std::string& system,
                                                                   const std::string& state) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckText("model", model, 1, kMaxModelChars, true));
  SPINE_RETURN_IF_ERROR(CheckText("title", title, 0, kMaxTitleChars, true));
  SPINE_RETURN_IF_ERROR(CheckText("system", system, 0, kMaxPromptBytes, false));
  SPINE_RETURN_IF_ERROR(CheckBytes("system", system, kMaxPromptBytes));
  SPINE_RETURN_IF_ERROR(CheckConversationState("state", state));
  return adapter_.InsertConversation(
      Conversation{.user_id = user_id,
                   .model = model,
                   .title = title,
                   .system = system,
                   .state = state,
                   .create_micros = absl::ToUnixMicros(clock_.Now())});
}

absl::StatusOr<Conversation> DataAccessService::GetConversation(int64_t user_id, int64_t id,
                                                                bool with_messages) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("conversation", id));
  return WithNotFoundReason(adapter_.GetConversation(user_id, id, with_messages),
                            kConversationNotFound);
}

absl::StatusOr<ConversationPage> DataAccessService::ListConversations(
    int64_t user_id, int page_size, const std::string& page_token) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_ASSIGN_OR_RETURN(const int size, PageSize(page_size));
  const std::string binding = OwnedBinding("conversations", user_id);
  OwnedPageQuery query{.user_id = user_id, .limit = size + 1};
  if (!page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(query.after, DecodePageToken(page_tokens_, page_token, binding));
  }
  ConversationPage page;
  SPINE_ASSIGN_OR_RETURN(page.conversations, adapter_.ListConversations(query));
  page.next_page_token = TrimToPage(page.conversations, size, page_tokens_, binding);
  return page;
}

absl::StatusOr<Conversation> DataAccessService::AppendConversationMessages(
    int64_t user_id, int64_t id, ConversationAppend append) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("conversation", id));
  SPINE_RETURN_IF_ERROR(CheckConversationState("expectState", append.expect_state));
  SPINE_RETURN_IF_ERROR(CheckConversationState("newState", append.new_state));
  // No message is a pure state change (a failed reply returning the conversation to idle).
  const bool state_changes = append.expect_state != append.new_state;
  if ((append.messages.empty() && !state_changes) ||
      append.messages.size() > kMaxMessagesPerAppend) {
    return absl::InvalidArgumentError(absl::StrCat("messages: ", append.messages.size(),
                                                   ", must be 1..", kMaxMessagesPerAppend,
                                                   " (0 only to change the state)"));
  }
  const int64_t now = absl::ToUnixMicros(clock_.Now());
  for (size_t i = 0; i < append.messages.size(); ++i) {
    ConversationMessage& message = append.messages[i];
    const std::string field = absl::StrCat("messages[", i, "]");
    if (message.role != "system" && message.role != "user" && message.role != "assistant") {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ".role: must be system, user or assistant"));
    }
    SPINE_RETURN_IF_ERROR(
        CheckText(absl::StrCat(field, ".content"), message.content, 0, kMaxPromptBytes, false));
    SPINE_RETURN_IF_ERROR(
        CheckBytes(absl::StrCat(field, ".content"), message.content, kMaxPromptBytes));
    if (message.create_micros == 0) message.create_micros = now;
  }
  return WithNotFoundReason(adapter_.AppendConversationMessages(user_id, id, append),
                            kConversationNotFound);
}

absl::Status DataAccessService::DeleteConversation(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("conversation", id));
  return WithNotFoundReason(adapter_.DeleteConversation(user_id, id), kConversationNotFound);
}

absl::StatusOr<Pipeline> DataAccessService::CreatePipeline(int64_t user_id, const std::string& name,
                                                           const std::string& definition_json) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckText("name", name, 1, kMaxNameChars, true));
  SPINE_RETURN_IF_ERROR(CheckBytes("definition", definition_json, kMaxDefinitionBytes));
  const nlohmann::json parsed =
      nlohmann::json::parse(definition_json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return absl::InvalidArgumentError("definition: must be a JSON object");
  return adapter_.InsertPipeline(Pipeline{.user_id = user_id,
                                          .name = name,
                                          .definition_json = definition_json,
                                          .create_micros = absl::ToUnixMicros(clock_.Now())});
}

absl::StatusOr<Pipeline> DataAccessService::GetPipeline(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("pipeline", id));
  return WithNotFoundReason(adapter_.GetPipeline(user_id, id), kPipelineNotFound);
}

absl::StatusOr<PipelinePage> DataAccessService::ListPipelines(int64_t user_id, int page_size,
                                                              const std::string& page_token) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_ASSIGN_OR_RETURN(const int size, PageSize(page_size));
  const std::string binding = OwnedBinding("pipelines", user_id);
  OwnedPageQuery query{.user_id = user_id, .limit = size + 1};
  if (!page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(query.after, DecodePageToken(page_tokens_, page_token, binding));
  }
  PipelinePage page;
  SPINE_ASSIGN_OR_RETURN(page.pipelines, adapter_.ListPipelines(query));
  page.next_page_token = TrimToPage(page.pipelines, size, page_tokens_, binding);
  return page;
}

absl::Status DataAccessService::DeletePipeline(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("pipeline", id));
  return WithNotFoundReason(adapter_.DeletePipeline(user_id, id), kPipelineNotFound);
}

absl::StatusOr<RunInsert> DataAccessService::CreateRun(RunRecord run) {
  SPINE_RETURN_IF_ERROR(CheckRun(run));
  run.id = 0;
  run.create_micros = absl::ToUnixMicros(clock_.Now());
  run.update_micros = run.create_micros;
  return adapter_.InsertRun(run);
}

absl::StatusOr<RunRecord> DataAccessService::UpdateRun(RunRecord run) {
  SPINE_RETURN_IF_ERROR(CheckRecordId("run", run.id));
  SPINE_RETURN_IF_ERROR(CheckRun(run));
  run.update_micros = absl::ToUnixMicros(clock_.Now());
  return WithNotFoundReason(adapter_.UpdateRun(run, FinalRunStates()), kRunNotFound);
}

absl::StatusOr<RunRecord> DataAccessService::GetRun(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("run", id));
  return WithNotFoundReason(adapter_.GetRun(user_id, id), kRunNotFound);
}

absl::StatusOr<RunPage> DataAccessService::ListRuns(const ListRunsParams& params) {
  RunQuery query{.user_id = params.user_id, .pipeline_id = params.pipeline_id};
  if (params.unfinished_states.empty()) {
    // Only recovery may look across users.
    SPINE_RETURN_IF_ERROR(CheckOwner(params.user_id));
  } else if (!params.state.empty()) {
    return absl::InvalidArgumentError("state: cannot be combined with unfinishedStates");
  }
  if (params.user_id < 0) return CheckOwner(params.user_id);
  if (params.pipeline_id < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("pipelineId: ", params.pipeline_id, " is not a pipeline id"));
  }
  if (!params.state.empty()) {
    SPINE_RETURN_IF_ERROR(CheckRunState("state", params.state));
    query.states = {params.state};
  }
  for (size_t i = 0; i < params.unfinished_states.size(); ++i) {
    SPINE_RETURN_IF_ERROR(
        CheckRunState(absl::StrCat("unfinishedStates[", i, "]"), params.unfinished_states[i]));
    query.states.push_back(params.unfinished_states[i]);
  }
  SPINE_ASSIGN_OR_RETURN(const int size, PageSize(params.page_size));
  const std::string binding = RunBinding(params);
  if (!params.page_token.empty()) {
    SPINE_ASSIGN_OR_RETURN(query.after, DecodePageToken(page_tokens_, params.page_token, binding));
  }
  query.limit = size + 1;
  RunPage page;
  SPINE_ASSIGN_OR_RETURN(page.runs, adapter_.ListRuns(query));
  page.next_page_token = TrimToPage(page.runs, size, page_tokens_, binding);
  return page;
}

}  // namespace spine::storage
