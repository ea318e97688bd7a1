#include "libs/rpc/caller.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/rpc/method_access.h"
#include "libs/rpc/request_id.h"
#include "libs/rpc/service_access.h"

namespace spine::rpc {

absl::StatusOr<Caller> Authenticator::Authenticate(const grpc::ServerContextBase& context) const {
  Caller caller;
  caller.request_id = RequestIdOf(context);
  const std::string method = MethodOf(context);
  const spine::api::Access access = AccessOf(method);

  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    if (access == spine::api::ACCESS_PUBLIC) return caller;
    return absl::UnauthenticatedError("missing bearer token (authorization metadata)");
  }
  absl::string_view header(it->second.data(), it->second.size());
  if (!absl::ConsumePrefix(&header, "Bearer ") || header.empty()) {
    if (access == spine::api::ACCESS_PUBLIC) return caller;
    return absl::UnauthenticatedError("authorization metadata is not 'Bearer <token>'");
  }
  if (verifier_ == nullptr) {
    if (access == spine::api::ACCESS_PUBLIC) return caller;
    return absl::UnauthenticatedError("this service has no JWT public key configured");
  }
  absl::StatusOr<AccessClaims> claims = verifier_->Verify(std::string(header));
  if (!claims.ok()) {
    // A bad token on a public method is still refused: the client meant to authenticate.
    return claims.status();
  }
  caller.user_id = claims->sub;
  caller.name = claims->name;
  caller.role = claims->role;
  caller.bearer_token = std::string(header);
  if (access == spine::api::ACCESS_ADMIN && !caller.is_admin()) {
    return absl::PermissionDeniedError("this method requires the admin role");
  }
  if (access == spine::api::ACCESS_INTERNAL && !caller.is_service()) {
    return absl::PermissionDeniedError("this method is only for Spine services");
  }
  if (access == spine::api::ACCESS_INTERNAL && !MayCallInternal(method, caller.user_id)) {
    // Least privilege: each internal RPC names the services that may call it (its `callers`).
    return absl::PermissionDeniedError(
        absl::StrCat("service '", caller.user_id.substr(0, 64), "' may not call ", method));
  }
  if (access != spine::api::ACCESS_INTERNAL && caller.is_service()) {
    // A service acts for a user by forwarding that user's token, never with its own.
    return absl::PermissionDeniedError("a service token is only accepted on internal methods");
  }
  return caller;
}

}  // namespace spine::rpc
