#include "libs/rpc/fallback_service.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/rpc/method_access.h"
#include "libs/rpc/status_convert.h"

namespace spine::rpc {
namespace {

class FinishingReactor final : public grpc::ServerGenericBidiReactor {
 public:
  explicit FinishingReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }  // callback reactors own themselves
};

}  // namespace

grpc::ServerGenericBidiReactor* FallbackService::CreateReactor(
    grpc::GenericCallbackServerContext* context) {
  const std::string& method = context->method();
  if (FindMethod(method) == nullptr) {
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
