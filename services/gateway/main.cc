// spine-gateway: reads its config, builds the Gateway (its HTTP edge and gRPC
// server; see gateway.h), serves until SIGTERM/SIGINT.
#include <cstdio>
#include <string_view>

#include "libs/core/log.h"
#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/gateway/gateway.h"
#include "services/gateway/gateway_config.h"
#include "services/gateway/reset_admin_password.h"
#include "services/gateway/service_token.h"

namespace {

int Run(const spine::gateway::GatewayConfig& config) {
  auto gateway = spine::gateway::Gateway::Create(config, spine::RealClock::Instance());
  if (!gateway.ok()) {
    spine::log::Error("refusing to start", {{"error", std::string(gateway.status().message())}});
    return 2;
  }
  if (absl::Status serving = (*gateway)->Serve(); !serving.ok()) {
    spine::log::Error("cannot start", {{"error", std::string(serving.message())}});
    return 1;
  }
  const int signal_number = spine::rpc::WaitForTerminationSignal();
  spine::log::Info("shutting down", {{"signal", std::to_string(signal_number)}});
  (*gateway)->Shutdown();
  spine::log::Info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string_view(argv[1]) == "mint-service-token") {
    return spine::gateway::RunMintServiceTokenCommand(argc, argv);
  }
  if (argc >= 2 && std::string_view(argv[1]) == "reset-admin-password") {
    return spine::gateway::RunResetAdminPasswordCommand(argc, argv);
  }
  if (argc != 1) {
    std::fputs(
        "usage: spine-gateway [mint-service-token <service> [ttl-hours] | reset-admin-password "
        "<username> [--password-file FILE]]\n",
        stderr);
    return 2;
  }
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::gateway::GatewayConfig> config =
      spine::rpc::LoadConfig<spine::gateway::GatewayConfig>("gateway",
                                                            spine::gateway::ReadGatewayConfig);
  if (!config) return 2;
  return Run(*config);
}
