// Service tokens: the access tokens Spine services call each other's internal RPCs with.
//
// The gateway owns the signing key, so it is the one place that mints them: the launcher runs
// `spine-gateway mint-service-token <service>` and hands each service its token in a file
// (SPINE_SERVICE_TOKEN_FILE). A service token has role "service" and the service's name as
// subject; verifiers accept it on internal RPCs only, so a leaked one cannot read a user's
// thoughts through the public API. It is revoked by rotating the key pair.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/core/clock.h"

namespace spine::gateway {

// How long a minted service token lives; the launcher mints fresh ones on every start.
inline constexpr absl::Duration kServiceTokenTtl = absl::Hours(24 * 30);

// A token for `service` (one of gateway, storage, llm, plugins, tasks), signed with `key`,
// valid `ttl` (1 minute .. 365 days) from the clock's now. INVALID_ARGUMENT otherwise.
absl::StatusOr<std::string> MintServiceToken(Ed25519PrivateKey key, const Clock& clock,
                                             absl::string_view service,
                                             absl::Duration ttl = kServiceTokenTtl);

// `spine-gateway mint-service-token <service> [ttl-hours]`: reads SPINE_JWT_PRIVATE_KEY_FILE
// from the environment (or .env), prints the token on stdout. Returns the process exit code;
// errors go to stderr.
int RunMintServiceTokenCommand(int argc, const char* const* argv);

}  // namespace spine::gateway
