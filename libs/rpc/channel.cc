#include "libs/rpc/channel.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "libs/rpc/request_id.h"

namespace spine::rpc {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, int64_t max_message_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  // Reconnect quickly after a peer restarts; the default backoff reaches two minutes.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> MakeClientContext(absl::Duration timeout,
                                                       const Caller* caller) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  if (caller != nullptr && !caller->bearer_token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", caller->bearer_token));
  }
  const std::string& request_id =
      caller != nullptr && !caller->request_id.empty() ? caller->request_id : CurrentRequestId();
  if (!request_id.empty()) context->AddMetadata(kRequestIdHeader, request_id);
  return context;
}

}  // namespace spine::rpc
