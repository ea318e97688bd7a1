#include "services/gateway/transcode/upstream_client.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/rpc/status_convert.h"

namespace spine::gateway {
namespace {

// What one call owns until its completion runs.
struct PendingCall {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  const google::protobuf::Descriptor* output = nullptr;
  Upstream::Done done;
};

grpc::ByteBuffer Serialize(const google::protobuf::Message& message) {
  const std::string bytes = message.SerializeAsString();
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Parse(
    const grpc::ByteBuffer& buffer, const google::protobuf::Descriptor* type) {
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return absl::InternalError("unreadable upstream response");
  std::string bytes;
  for (const grpc::Slice& slice : slices) {
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  std::unique_ptr<google::protobuf::Message> message(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
  if (!message->ParseFromString(bytes)) {
    return absl::InternalError("malformed upstream response");
  }
  return message;
}

}  // namespace

UpstreamClient::UpstreamClient(std::map<std::string, std::shared_ptr<grpc::Channel>> channels,
                               absl::Duration deadline)
    : channels_(std::move(channels)), deadline_(deadline) {}

void UpstreamClient::Call(const Route& route, const google::protobuf::Message& request,
                          const UpstreamMetadata& metadata, Done done) const {
  auto channel = channels_.find(route.upstream);
  if (channel == channels_.end()) {
    return done(absl::UnimplementedError(absl::StrCat("no service answers ", route.GrpcPath())));
  }
  auto* call = new PendingCall();  // deleted by the completion, which always runs
  call->request = Serialize(request);
  call->output = route.method->output_type();
  call->done = std::move(done);
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline_));
  if (!metadata.authorization.empty()) {
    call->context.AddMetadata("authorization", metadata.authorization);
  }
  if (!metadata.request_id.empty()) call->context.AddMetadata("x-request-id", metadata.request_id);

  grpc::GenericStub stub(channel->second);
  stub.UnaryCall(&call->context, route.GrpcPath(), grpc::StubOptions(), &call->request,
                 &call->response, [call](const grpc::Status& status) {
                   std::unique_ptr<PendingCall> owned(call);
                   if (!status.ok()) return owned->done(rpc::FromGrpcStatus(status));
                   owned->done(Parse(owned->response, owned->output));
                 });
}

}  // namespace spine::gateway
