#include "services/gateway/ops/grpc_service_prober.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/status_convert.h"

namespace spine::gateway {
namespace {

// One probe in flight. A reactor, because gRPC lets a reactor delete itself in OnDone, after it
// is done with the context and messages (see HealthClient for the same pattern).
class ProbeReactor final : public grpc::ClientUnaryReactor {
 public:
  ProbeReactor(std::shared_ptr<grpc::Channel> channel, spine::v1::StatusService::Stub& stub,
               absl::Duration timeout, ServiceProber::Callback done)
      : channel_(std::move(channel)),
        context_(rpc::MakeClientContext(timeout)),
        done_(std::move(done)) {
    stub.async()->GetServiceStatus(context_.get(), &request_, &response_, this);
  }

  void OnDone(const grpc::Status& status) override {
    if (status.ok()) {
      done_(std::move(response_));
    } else {
      done_(rpc::FromGrpcStatus(status));
    }
    delete this;
  }

 private:
  // Held so the channel outlives the call even if the prober goes first.
  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<grpc::ClientContext> context_;
  const spine::v1::GetServiceStatusRequest request_;
  spine::v1::ServiceStatus response_;
  const ServiceProber::Callback done_;
};

}  // namespace

GrpcServiceProber::GrpcServiceProber(
    const std::map<std::string, std::shared_ptr<grpc::Channel>>& channels) {
  for (const auto& [service, channel] : channels) {
    targets_.emplace(service, Target{channel, spine::v1::StatusService::NewStub(channel)});
  }
}

void GrpcServiceProber::Probe(const std::string& service, absl::Duration timeout, Callback done) {
  const auto it = targets_.find(service);
  if (it == targets_.end()) {
    done(absl::NotFoundError(absl::StrCat("no channel for service \"", service, "\"")));
    return;
  }
  auto* reactor = new ProbeReactor(it->second.channel, *it->second.stub, timeout,
                                   std::move(done));  // deletes itself in OnDone
  reactor->StartCall();
}

}  // namespace spine::gateway
