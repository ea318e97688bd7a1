// Caller identity for server calls: every service verifies the access JWT itself.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "libs/auth/jwt.h"

namespace spine::rpc {

// Who is calling. Empty `user_id` for a public method called without a token.
struct Caller {
  std::string user_id;
  std::string name;
  std::string role;
  std::string request_id;
  // The raw bearer token, forwarded on calls made on the caller's behalf.
  std::string bearer_token;

  bool is_admin() const { return role == "admin"; }
  bool is_service() const { return role == "service"; }
};

// Decides whether a call may proceed, from the method's `(spine.api.access)` option and the
// `authorization: Bearer <jwt>` metadata. Thread-safe; the verifier outlives it.
class Authenticator {
 public:
  // `verifier` may be null (no public key configured, dev mode): then only public methods pass.
  explicit Authenticator(const JwtVerifier* verifier) : verifier_(verifier) {}

  // UNAUTHENTICATED for a missing, malformed or invalid token on a non-public method;
  // PERMISSION_DENIED for a non-admin on an admin method, and for anything but a service token
  // on an internal method, and for a service token on an internal method whose declared `callers`
  // (service_access.h) do not name that service.
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContextBase& context) const;

 private:
  const JwtVerifier* verifier_;
};

}  // namespace spine::rpc
