// Request ids: the `x-request-id` that ties one request's log lines together across services.
#pragma once

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_interceptor.h"

namespace spine::rpc {

inline constexpr char kRequestIdHeader[] = "x-request-id";

// A new random id (32 lowercase hex characters).
std::string NewRequestId();
// 1..128 characters of [A-Za-z0-9._:-]; anything else from a client is replaced, not trusted.
bool IsValidRequestId(absl::string_view id);
// The request id of a server call: the client's valid `x-request-id`, else the one the
// interceptor generated for it, else "".
std::string RequestIdOf(const grpc::ServerContextBase& context);

// The request id of the work this thread is doing, "" if none: set by the server interceptor
// below for each call's handler (the sync server runs a call's interceptors and its handler on one
// thread), or by a RequestIdScope where work arrives another way (a bus message). Client contexts
// made by MakeClientContext carry it, so one id finds a request in every service's log.
const std::string& CurrentRequestId();

// Makes `id` this thread's current request id until destroyed, then restores the previous one.
class RequestIdScope {
 public:
  explicit RequestIdScope(std::string id);
  ~RequestIdScope();
  RequestIdScope(const RequestIdScope&) = delete;
  RequestIdScope& operator=(const RequestIdScope&) = delete;

 private:
  std::string previous_;
};

// The gRPC path ("/package.Service/Method") of a server call, as stamped by the interceptor
// below (ServerContextBase does not expose it to typed handlers); "" without the interceptor.
std::string MethodOf(const grpc::ServerContextBase& context);

// Server interceptor: stamps the method (for MethodOf), makes sure every call has a valid request
// id (generating one and placing it in the received metadata so handlers see it), echoes it in the
// initial response metadata, and writes one access-log line per call (method, code, duration,
// request_id).
class RequestIdInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override;
};

}  // namespace spine::rpc
