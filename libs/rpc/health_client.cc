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

// One check in flight. A reactor, because gRPC lets a reactor delete itself in OnDone; a
// plain callback that drops the last reference to its ClientContext from inside the callback
// frees the call while gRPC is still using it.
class CheckReactor final : public grpc::ClientUnaryReactor {
 public:
  CheckReactor(const std::shared_ptr<grpc::Channel>& channel, absl::Duration timeout,
               std::function<void(bool)> done)
      : done_(std::move(done)) {
    context_.set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
    grpc::GenericStub stub(channel);
    stub.PrepareUnaryCall(&context_, kCheckMethod, grpc::StubOptions(), &request_, &response_,
                          this);
  }

  void OnDone(const grpc::Status& status) override {
    done_(status.ok() && IsServing(response_));
    delete this;
  }

 private:
  grpc::ClientContext context_;
  // An empty HealthCheckRequest (the whole server). It must hold one empty slice: a
  // default-constructed ByteBuffer is "no message", which gRPC rejects as API misuse.
  grpc::Slice empty_slice_;
  grpc::ByteBuffer request_{&empty_slice_, 1};
  grpc::ByteBuffer response_;
  std::function<void(bool)> done_;
};

}  // namespace

void HealthClient::CheckAsync(absl::Duration timeout, std::function<void(bool)> done) const {
  auto* reactor = new CheckReactor(channel_, timeout, std::move(done));  // deletes itself in OnDone
  reactor->StartCall();
}

}  // namespace spine::rpc
