#include "libs/rpc/request_id.h"

#include <openssl/rand.h>

#include <map>

#include "absl/strings/escaping.h"
#include "absl/time/clock.h"
#include "libs/core/log.h"

namespace spine::rpc {
namespace {

constexpr char kGeneratedHeader[] = "x-spine-generated-request-id";
constexpr char kMethodHeader[] = "x-spine-method";

// Per thread: a server thread serves one call at a time.
thread_local std::string current_request_id;

class RequestIdInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit RequestIdInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method()), start_(absl::Now()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* metadata = methods->GetRecvInitialMetadata();
      // Only this interceptor may set these; the strings live as long as this call.
      metadata->erase(kGeneratedHeader);
      metadata->erase(kMethodHeader);
      metadata->emplace(grpc::string_ref(kMethodHeader), grpc::string_ref(method_));
      auto it = metadata->find(kRequestIdHeader);
      if (it != metadata->end() &&
          IsValidRequestId(absl::string_view(it->second.data(), it->second.size()))) {
        request_id_.assign(it->second.data(), it->second.size());
      } else {
        request_id_ = NewRequestId();
        metadata->emplace(grpc::string_ref(kGeneratedHeader), grpc::string_ref(request_id_));
      }
      current_request_id = request_id_;
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->emplace(kRequestIdHeader, request_id_);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      log::Info("rpc",
                {{"method", method_},
                 {"code", std::to_string(status.error_code())},
                 {"duration_ms", std::to_string(absl::ToInt64Milliseconds(absl::Now() - start_))},
                 {"request_id", request_id_}});
      // The handler has returned: what this thread does next is not this request's work.
      if (current_request_id == request_id_) current_request_id.clear();
    }
    methods->Proceed();
  }

 private:
  std::string method_;
  absl::Time start_;
  std::string request_id_;
};

}  // namespace

std::string NewRequestId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // RAND_bytes only fails when the CSPRNG cannot seed; an id is not a secret, so fall back.
    const int64_t now = absl::GetCurrentTimeNanos();
    for (size_t i = 0; i < sizeof(bytes); ++i)
      bytes[i] = static_cast<unsigned char>(now >> (i % 8 * 8));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

bool IsValidRequestId(absl::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

const std::string& CurrentRequestId() { return current_request_id; }

RequestIdScope::RequestIdScope(std::string id) : previous_(std::move(current_request_id)) {
  current_request_id = IsValidRequestId(id) ? std::move(id) : std::string();
}

RequestIdScope::~RequestIdScope() { current_request_id = std::move(previous_); }

std::string RequestIdOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  for (const char* header : {kRequestIdHeader, kGeneratedHeader}) {
    auto it = metadata.find(header);
    if (it == metadata.end()) continue;
    absl::string_view id(it->second.data(), it->second.size());
    if (IsValidRequestId(id)) return std::string(id);
  }
  return "";
}

std::string MethodOf(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find(kMethodHeader);
  if (it == metadata.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

grpc::experimental::Interceptor* RequestIdInterceptorFactory::CreateServerInterceptor(
    grpc::experimental::ServerRpcInfo* info) {
  return new RequestIdInterceptor(info);  // gRPC owns interceptors it asks for
}

}  // namespace spine::rpc
