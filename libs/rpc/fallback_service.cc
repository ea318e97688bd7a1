#include "libs/rpc/fallback_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "libs/rpc/method_access.h"
#include "libs/rpc/status_convert.h"

namespace spine::rpc {
namespace {

class FinishingReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit FinishingReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }  // callback reactors own themselves
};

bool IsKnownMethod(absl::string_view path) {
  EnsureSpineProtosLinked();
  absl::string_view name = path;
  if (!absl::ConsumePrefix(&name, "/")) return false;
  std::string full_name(name);
  const size_t slash = full_name.find('/');
  if (slash == std::string::npos || full_name.find('/', slash + 1) != std::string::npos)
    return false;
  full_name[slash] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name) != nullptr;
}

}  // namespace

grpc::ServerGenericBidiReactor* FallbackService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  const std::string& method = context->method();
  if (!IsKnownMethod(method)) {
    return new FinishingReactor(
        grpc::Status(grpc::StatusCode::UNIMPLEMENTED, absl::StrCat("unknown method ", method)));
  }
  absl::StatusOr<Caller> caller = authenticator_.Authenticate(*context);
  if (!caller.ok()) return new FinishingReactor(ToGrpcStatus(caller.status()));
  return new FinishingReactor(
      grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                   absl::StrCat(absl::StripPrefix(method, "/"),
                                " is not implemented yet (see the status table in README.md)")));
}

}  // namespace spine::rpc
