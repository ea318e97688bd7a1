// spine-health ADDRESS [TIMEOUT_MS]: asks the gRPC server at ADDRESS (host:port) whether it is
// SERVING (grpc.health.v1.Health/Check for the whole server) and exits 0 if so, 1 otherwise.
// The container health check of every gRPC service in deploy/compose/docker-compose.yml; the
// runtime image has no grpc_health_probe (not packaged by Debian).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/health_client.h"

int main(int argc, char** argv) {
  int64_t timeout_ms = 2000;
  if (argc < 2 || argc > 3 || (argc == 3 && (!absl::SimpleAtoi(argv[2], &timeout_ms) ||
                                            timeout_ms <= 0))) {
    std::fputs("usage: spine-health HOST:PORT [TIMEOUT_MS]\n", stderr);
    return 64;
  }
  const spine::rpc::HealthClient client(spine::rpc::MakeChannel(argv[1], 4 << 20));
  std::promise<bool> serving;
  client.CheckAsync(absl::Milliseconds(timeout_ms),
                    [&serving](bool answer) { serving.set_value(answer); });
  if (serving.get_future().get()) return 0;
  std::fprintf(stderr, "spine-health: %s is not serving\n", argv[1]);
  return 1;
}
