#include "libs/rpc/health_client.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/client_context.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace spine::rpc {
namespace {

constexpr char kCheckMethod[] = "/grpc.health.v1.Health/Check";
constexpr uint32_t kStatusFieldTag = (1 << 3) | 0;  // HealthCheckResponse.status, varint
constexpr uint64_t kServing = 1;

// Debian ships gRPC's health service but not health.proto, so the one-field response is read
// with protobuf's wire-format reader instead of a generated class.
bool IsServing(const grpc::ByteBuffer& buffer) {
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) return false;
  google::protobuf::io::CodedInputStream input(slice.begin(), static_cast<int>(slice.size()));
  uint64_t status = 0;
  while (uint32_t tag = input.ReadTag()) {
    if (tag == kStatusFieldTag) {
      if (!input.ReadVarint64(&status)) return false;
    } else if (!google::protobuf::internal::WireFormatLite::SkipField(&input, tag)) {
      return false;
    }
  }
  return status == kServing;
}

struct PendingCheck {
  grpc::ClientContext context;
  // An empty HealthCheckRequest (the whole server). It must hold one empty slice: a
  // default-constructed ByteBuffer is "no message", which gRPC rejects as API misuse.
  grpc::Slice empty_slice;
  grpc::ByteBuffer request{&empty_slice, 1};
  grpc::ByteBuffer response;
  std::function<void(bool)> done;
};

}  // namespace

void HealthClient::CheckAsync(absl::Duration timeout, std::function<void(bool)> done) const {
  auto pending = std::make_shared<PendingCheck>();
  pending->done = std::move(done);
  pending->context.set_deadline(std::chrono::system_clock::now() +
                                absl::ToChronoMilliseconds(timeout));
  grpc::GenericStub stub(channel_);
  stub.UnaryCall(&pending->context, kCheckMethod, grpc::StubOptions(), &pending->request,
                 &pending->response, [pending](const grpc::Status& status) {
                   pending->done(status.ok() && IsServing(pending->response));
                 });
}

}  // namespace spine::rpc
