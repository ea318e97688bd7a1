#include "services/gateway/transcode/upstream_client.h"

#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/rpc/status_convert.h"
#include "services/gateway/auth/edge_identity.h"

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

// A server-streaming call through the generic stub's bidi reactor (generic calls do not know
// the method's shape): one request written, then messages read until the status. Deletes
// itself in OnDone; the Stream handle only holds a weak reference to it.
//
// Paced, the next read starts only on Next(). A hold keeps OnDone away while the call waits
// for Next with no read outstanding, so Next and Cancel never meet a deleted call; the read
// that sees the end (or the cancel) releases it.
class StreamingCall final : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  StreamingCall(const google::protobuf::Descriptor* output, Upstream::OnMessage on_message,
                std::function<void(absl::Status)> done, bool paced)
      : output_(output),
        on_message_(std::move(on_message)),
        done_(std::move(done)),
        paced_(paced) {}

  grpc::ClientContext& context() { return context_; }

  void Start(grpc::GenericStub& stub, const std::string& method, const grpc::ByteBuffer& request) {
    request_ = request;  // a ByteBuffer copy shares its slices
    stub.PrepareBidiStreamingCall(&context_, method, grpc::StubOptions(), this);
    if (paced_) AddHold();
    StartWrite(&request_);
    StartWritesDone();
    StartRead(&response_);
    StartCall();
  }

  void Cancel() {
    context_.TryCancel();
    ResumeIfPaused();  // the read completes at once, failed, and releases the hold
  }

  void Next() { ResumeIfPaused(); }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the stream ended; OnDone brings the status
      if (paced_) RemoveHold();
      return;
    }
    absl::StatusOr<std::unique_ptr<google::protobuf::Message>> message = Parse(response_, output_);
    if (!message.ok()) {
      context_.TryCancel();
      StartRead(&response_);  // completes failed: the end is seen as for any other stream
      return;
    }
    if (paced_) {
      // Before on_message: it may ask for the next message at once, from another thread.
      absl::MutexLock lock(&mu_);
      paused_ = true;
    }
    on_message_(*std::move(message));
    if (!paced_) StartRead(&response_);
  }

  void OnDone(const grpc::Status& status) override {
    std::unique_ptr<StreamingCall> owned(this);
    done_(rpc::FromGrpcStatus(status));
  }

 private:
  void ResumeIfPaused() {
    absl::MutexLock lock(&mu_);
    if (!paused_) return;
    paused_ = false;
    StartRead(&response_);
  }

  grpc::ClientContext context_;
  grpc::ByteBuffer request_;
  grpc::ByteBuffer response_;
  const google::protobuf::Descriptor* output_;
  Upstream::OnMessage on_message_;
  std::function<void(absl::Status)> done_;
  const bool paced_;
  absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;  // paced: a message was handed on, no read started
};

// Cancels through a shared flag so a handle outliving the call never touches freed memory.
class StreamHandle final : public Upstream::Stream {
 public:
  struct State {
    absl::Mutex mu;
    StreamingCall* call ABSL_GUARDED_BY(mu) = nullptr;  // null once done
  };
  explicit StreamHandle(std::shared_ptr<State> state) : state_(std::move(state)) {}
  void Cancel() override {
    absl::MutexLock lock(&state_->mu);
    if (state_->call != nullptr) state_->call->Cancel();
  }
  void Next() override {
    absl::MutexLock lock(&state_->mu);
    if (state_->call != nullptr) state_->call->Next();
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

std::shared_ptr<Upstream::Stream> UpstreamClient::StartStream(
    const Route& route, const google::protobuf::Message& request, const UpstreamMetadata& metadata,
    OnMessage on_message, std::function<void(absl::Status)> done, bool paced) const {
  auto state = std::make_shared<StreamHandle::State>();
  auto handle = std::make_shared<StreamHandle>(state);
  auto channel = channels_.find(route.upstream);
  if (channel == channels_.end()) {
    done(absl::UnimplementedError(absl::StrCat("no service answers ", route.GrpcPath())));
    return handle;
  }
  auto* call = new StreamingCall(  // deleted by its OnDone, which always runs
      route.method->output_type(), std::move(on_message),
      [state, done = std::move(done)](absl::Status status) {
        {
          absl::MutexLock lock(&state->mu);
          state->call = nullptr;
        }
        done(std::move(status));
      },
      paced);
  AddMetadata(route, metadata, call->context());
  {
    absl::MutexLock lock(&state->mu);
    state->call = call;
  }
  grpc::GenericStub stub(channel->second);
  call->Start(stub, route.GrpcPath(), Serialize(request));
  return handle;
}

UpstreamClient::UpstreamClient(std::map<std::string, std::shared_ptr<grpc::Channel>> channels,
                               absl::Duration deadline, std::string edge_key)
    : channels_(std::move(channels)), deadline_(deadline), edge_key_(std::move(edge_key)) {}

void UpstreamClient::AddMetadata(const Route& route, const UpstreamMetadata& metadata,
                                 grpc::ClientContext& context) const {
  if (!metadata.authorization.empty()) context.AddMetadata("authorization", metadata.authorization);
  if (!metadata.request_id.empty()) context.AddMetadata("x-request-id", metadata.request_id);
  if (route.upstream == "gateway" && !edge_key_.empty() && !metadata.client_ip.empty()) {
    context.AddMetadata(kClientIpMetadata, metadata.client_ip);
    context.AddMetadata(kEdgeKeyMetadata, edge_key_);
  }
}

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
  const absl::Duration deadline =
      metadata.deadline > absl::ZeroDuration() ? metadata.deadline : deadline_;
  call->context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  AddMetadata(route, metadata, call->context);

  grpc::GenericStub stub(channel->second);
  stub.UnaryCall(&call->context, route.GrpcPath(), grpc::StubOptions(), &call->request,
                 &call->response, [call](const grpc::Status& status) {
                   std::unique_ptr<PendingCall> owned(call);
                   if (!status.ok()) return owned->done(rpc::FromGrpcStatus(status));
                   absl::StatusOr<std::unique_ptr<google::protobuf::Message>> message =
                       Parse(owned->response, owned->output);
                   if (!message.ok()) return owned->done(message.status());
                   const auto& initial = owned->context.GetServerInitialMetadata();
                   const auto early = initial.find(kHttpStatusHeader);
                   owned->done(UpstreamResponse{
                       .message = *std::move(message),
                       .finished_early = early != initial.end() && early->second == "200"});
                 });
}

}  // namespace spine::gateway
