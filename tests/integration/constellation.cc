#include "tests/integration/constellation.h"

#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/health_client.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {

Constellation::Constellation(const std::vector<std::string>& services,
                             const std::map<std::string, std::string>& extra_env) {
  auto keys = GenerateEd25519PemPair();
  if (!keys.ok()) throw std::runtime_error(std::string(keys.status().message()));
  private_key_pem_ = keys->first;
  const std::string private_key = dir_.WriteFile("jwt_private.pem", keys->first);
  const std::string public_key = dir_.WriteFile("jwt_public.pem", keys->second);
  const std::string admin_password =
      dir_.WriteFile("admin_password", absl::StrCat(kAdminPassword, "\n"));

  // Distinct ports: the kernel may hand out a port it just handed out (and released) again, and
  // with SO_REUSEPORT two services would then share one address, each getting some of the calls.
  std::set<int> taken;
  auto distinct_port = [&taken] {
    int port = FreeLoopbackPort();
    while (!taken.insert(port).second) port = FreeLoopbackPort();
    return port;
  };
  http_port_ = distinct_port();
  for (const char* service : kServices) grpc_ports_[service] = distinct_port();
  // Each service gets its own service token, as deploy/local/spine-up mints them.
  auto signing_key = Ed25519PrivateKey::FromPem(keys->first);
  if (!signing_key.ok()) throw std::runtime_error(std::string(signing_key.status().message()));
  const JwtSigner signer(*std::move(signing_key), RealClock::Instance(), absl::Hours(24));
  for (const char* service : kServices) {
    auto token = signer.Sign(service, absl::StrCat("spine-", service), "service");
    if (!token.ok()) throw std::runtime_error(std::string(token.status().message()));
    service_token_files_[service] = dir_.WriteFile(absl::StrCat("service_token_", service), *token);
  }

  env_ = {
      {"SPINE_DEV_MODE", "0"},
      {"SPINE_LOG_LEVEL", "debug"},
      {"SPINE_DATA_DIR", dir_.path() + "/data"},
      {"SPINE_JWT_PUBLIC_KEY_FILE", public_key},
      {"SPINE_JWT_PRIVATE_KEY_FILE", private_key},
      {"SPINE_ADMIN_PASSWORD_FILE", admin_password},
      {"SPINE_PAGE_TOKEN_KEY_FILE", dir_.WriteFile("page_token_key", std::string(64, 'k'))},
      {"SPINE_SHUTDOWN_GRACE_MS", "2000"},
      {"SPINE_READINESS_TIMEOUT_MS", "300"},
      {"SPINE_GATEWAY_HTTP_ADDR", "127.0.0.1:" + std::to_string(http_port_)},
      {"SPINE_GATEWAY_GRPC_ADDR", GrpcAddress("gateway")},
      {"SPINE_STORAGE_ADDR", GrpcAddress("storage")},
      {"SPINE_LLM_ADDR", GrpcAddress("llm")},
      {"SPINE_PLUGINS_ADDR", GrpcAddress("plugins")},
      {"SPINE_TASKS_ADDR", GrpcAddress("tasks")},
      {"SPINE_ENV_FILE", dir_.WriteFile("empty.env", "")},
      // The example plugins of the tree; the services run from the test's cwd, not the repo.
      {"SPINE_PLUGINS_DIR", SPINE_SOURCE_DIR "/plugins"},
  };
  for (const auto& [name, value] : extra_env) env_[name] = value;
  for (const std::string& service : services) Restart(service);
}

std::map<std::string, std::string> Constellation::Env(const std::string& service) const {
  std::map<std::string, std::string> env = env_;
  // A test's own SPINE_SERVICE_TOKEN_FILE (extra_env) wins over the minted one.
  env.emplace("SPINE_SERVICE_TOKEN_FILE", service_token_files_.at(service));
  return env;
}

void Constellation::Restart(const std::string& service) {
  const std::string binary =
      absl::StrCat(SPINE_BINARY_DIR, "/services/", service, "/spine-", service);
  processes_[service].reset();  // reaps a previous instance (SIGKILL if still running)
  processes_[service] =
      std::make_unique<ChildProcess>(binary, Env(service), dir_.path() + "/" + service + ".log");
}

std::string Constellation::GrpcAddress(const std::string& service) const {
  return "127.0.0.1:" + std::to_string(grpc_ports_.at(service));
}

std::string Constellation::Log(const std::string& service) const {
  std::ifstream in(dir_.path() + "/" + service + ".log");
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

bool Constellation::WaitHealthy(const std::string& service, absl::Duration timeout) const {
  const rpc::HealthClient client(rpc::MakeChannel(GrpcAddress(service), 4 << 20));
  // Every 50 ms while the process is still binding its port.
  return PollUntil(
      [&] {
        absl::Notification done;
        bool serving = false;
        client.CheckAsync(absl::Milliseconds(500), [&](bool ok) {
          serving = ok;
          done.Notify();
        });
        done.WaitForNotification();
        return serving;
      },
      timeout, absl::Milliseconds(50));
}

int Constellation::WaitForHttpStatus(const std::string& path, int status,
                                     absl::Duration timeout) const {
  int last = 0;
  // Every 50 ms: polling an HTTP endpoint (no push channel exists) under the per-IP rate limit.
  PollUntil(
      [&] {
        last = HttpRequestTo(http_port_, "GET", path).status;
        return last == status;
      },
      timeout, absl::Milliseconds(50));
  return last;
}

}  // namespace spine::testing
