#include "services/storage/access/pipeline_access.h"

#include "libs/core/status.h"
#include "nlohmann/json.hpp"
#include "services/storage/access/field_checks.h"
#include "services/storage/error_reasons.h"
#include "services/storage/paging.h"

namespace spine::storage {
namespace {

constexpr size_t kMaxNameChars = 128;
constexpr size_t kMaxDefinitionBytes = size_t{256} * 1024;

constexpr char kPipelineNotFound[] = "PIPELINE_NOT_FOUND";

}  // namespace

absl::StatusOr<Pipeline> PipelineAccess::CreatePipeline(int64_t user_id, const std::string& name,
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

absl::StatusOr<Pipeline> PipelineAccess::GetPipeline(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("pipeline", id));
  return WithNotFoundReason(adapter_.GetPipeline(user_id, id), kPipelineNotFound);
}

absl::StatusOr<PipelinePage> PipelineAccess::ListPipelines(int64_t user_id, int page_size,
                                                           const std::string& page_token) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_ASSIGN_OR_RETURN(const int size, PageSize(page_size));
  SPINE_ASSIGN_OR_RETURN(
      PageOf<Pipeline> page,
      ReadPage<Pipeline>(OwnedPageQuery{.user_id = user_id}, size, page_token, page_tokens_,
                         OwnedBinding("pipelines", user_id),
                         [this](const OwnedPageQuery& q) { return adapter_.ListPipelines(q); }));
  return PipelinePage{std::move(page.rows), std::move(page.next_page_token)};
}

absl::Status PipelineAccess::DeletePipeline(int64_t user_id, int64_t id) {
  SPINE_RETURN_IF_ERROR(CheckOwner(user_id));
  SPINE_RETURN_IF_ERROR(CheckRecordId("pipeline", id));
  return WithNotFoundReason(adapter_.DeletePipeline(user_id, id), kPipelineNotFound);
}

}  // namespace spine::storage
