#include "libs/rpc/rpc_server.h"

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "libs/core/log.h"
#include "libs/rpc/request_id.h"

namespace spine::rpc {

absl::StatusOr<std::unique_ptr<RpcServer>> RpcServer::Start(
    const RpcServerOptions& options, const Authenticator& authenticator,
    const std::vector<grpc::Service*>& services, const Clock& clock,
    StatusProbeService::Extras status_extras) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  std::unique_ptr<RpcServer> server(new RpcServer());
  server->options_ = options;
  server->status_probe_ =
      std::make_unique<StatusProbeService>(options.service_name, clock, std::move(status_extras));
  server->fallback_ = std::make_unique<FallbackService>(authenticator);

  grpc::ServerBuilder builder;
  // Plaintext on the wire: services bind loopback or a private network; TLS terminates in
  // front of the gateway. Every call is still authenticated by JWT.
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(), &server->port_);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(server->status_probe_.get());
  for (grpc::Service* service : services) builder.RegisterService(service);
  builder.RegisterCallbackGenericService(server->fallback_.get());

  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(std::make_unique<RequestIdInterceptorFactory>());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.address));
  }
  server->server_->GetHealthCheckService()->SetServingStatus(true);
  log::Info("grpc server listening",
            {{"address", options.address}, {"port", std::to_string(server->port_)}});
  return server;
}

void RpcServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() +
                    absl::ToChronoMilliseconds(options_.shutdown_grace));
  server_->Wait();
}

RpcServer::~RpcServer() {
  if (server_ != nullptr) Shutdown();
}

}  // namespace spine::rpc
