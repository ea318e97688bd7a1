#include "services/gateway/service_token.h"

#include <array>
#include <cstdio>

#include "absl/algorithm/container.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "libs/auth/jwt.h"
#include "libs/core/config_reader.h"
#include "libs/core/environment.h"

namespace spine::gateway {
namespace {

constexpr std::array<absl::string_view, 5> kServices = {"gateway", "storage", "llm", "plugins",
                                                        "tasks"};

}  // namespace

absl::StatusOr<std::string> MintServiceToken(Ed25519PrivateKey key, const Clock& clock,
                                             absl::string_view service, absl::Duration ttl) {
  if (absl::c_find(kServices, service) == kServices.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "service: '", service.substr(0, 32), "', must be gateway, storage, llm, plugins or tasks"));
  }
  if (ttl < absl::Minutes(1) || ttl > absl::Hours(24 * 365)) {
    return absl::InvalidArgumentError("ttl: must be 1 minute .. 365 days");
  }
  JwtSigner signer(std::move(key), clock, ttl);
  return signer.Sign(std::string(service), absl::StrCat("spine-", service), "service");
}

int RunMintServiceTokenCommand(int argc, const char* const* argv) {
  if (argc < 3 || argc > 4) {
    std::fputs("usage: spine-gateway mint-service-token <service> [ttl-hours]\n", stderr);
    return 2;
  }
  absl::Duration ttl = kServiceTokenTtl;
  if (argc == 4) {
    int64_t hours = 0;
    if (!absl::SimpleAtoi(argv[3], &hours) || hours < 1 || hours > int64_t{24} * 365) {
      std::fputs("mint-service-token: ttl-hours must be 1..8760\n", stderr);
      return 2;
    }
    ttl = absl::Hours(hours);
  }
  const absl::StatusOr<Environment> env = Environment::FromProcess();
  if (!env.ok()) {
    std::fprintf(stderr, "mint-service-token: %s\n", std::string(env.status().message()).c_str());
    return 2;
  }
  ConfigReader reader(*env);
  const std::string key_file = reader.SecretFile("SPINE_JWT_PRIVATE_KEY_FILE");
  if (absl::Status status = reader.Finish(); !status.ok() || key_file.empty()) {
    std::fputs("mint-service-token: SPINE_JWT_PRIVATE_KEY_FILE must name the signing key\n",
               stderr);
    return 2;
  }
  auto key = Ed25519PrivateKey::FromPemFile(key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "mint-service-token: %s\n", std::string(key.status().message()).c_str());
    return 2;
  }
  auto token = MintServiceToken(std::move(*key), RealClock::Instance(), argv[2], ttl);
  if (!token.ok()) {
    std::fprintf(stderr, "mint-service-token: %s\n", std::string(token.status().message()).c_str());
    return 2;
  }
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace spine::gateway
