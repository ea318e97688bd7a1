#include "services/gateway/reset_admin_password.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "libs/audit/storage_audit_writer.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/password_hash.h"
#include "libs/core/clock.h"
#include "libs/core/config_reader.h"
#include "libs/rpc/channel.h"
#include "services/gateway/auth/audit_events.h"
#include "services/gateway/auth/auth_logic.h"
#include "services/gateway/auth/service_token_source.h"
#include "services/gateway/auth/storage_user_store.h"
#include "services/gateway/gateway_config.h"

namespace spine::gateway {
namespace {

constexpr char kUsage[] =
    "usage: spine-gateway reset-admin-password <username> [--password-file FILE]\n";
// Storage may still be starting; a one-off command can afford to wait a little.
constexpr absl::Duration kStorageDeadline = absl::Seconds(10);

int Fail(int code, absl::string_view message) {
  std::fprintf(stderr, "reset-admin-password: %.*s\n", static_cast<int>(message.size()),
               message.data());
  return code;
}

}  // namespace

int RunResetAdminPasswordCommand(int argc, const char* const* argv) {
  std::string file = "-";
  if (argc == 5 && std::string_view(argv[3]) == "--password-file") {
    file = argv[4];
  } else if (argc != 3) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string username = argv[2];
  if (absl::Status name = CheckUsername(username); !name.ok()) return Fail(2, name.message());

  std::string password;
  if (file == "-") {
    password.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(2, absl::StrCat("cannot read ", file));
    password.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // One trailing newline is the file's or the terminal's, not the password's.
  if (password.ends_with("\r\n")) {
    password.resize(password.size() - 2);
  } else if (password.ends_with('\n')) {
    password.pop_back();
  }
  if (absl::Status policy = CheckPasswordPolicy(password); !policy.ok()) {
    return Fail(2, policy.message());
  }

  const absl::StatusOr<Environment> env = Environment::FromProcess();
  if (!env.ok()) return Fail(2, env.status().message());
  ConfigReader reader(*env);
  const GatewayConfig config = ReadGatewayConfig(reader);
  if (absl::Status status = reader.Finish(); !status.ok()) return Fail(2, status.message());
  if (config.jwt_private_key_file.empty()) {
    return Fail(2, "SPINE_JWT_PRIVATE_KEY_FILE must name the gateway's signing key");
  }
  absl::StatusOr<Ed25519PrivateKey> key =
      Ed25519PrivateKey::FromPemFile(config.jwt_private_key_file);
  if (!key.ok()) return Fail(2, key.status().message());

  ServiceTokenSource tokens(*std::move(key), RealClock::Instance());
  auto channel = rpc::MakeChannel(config.common.addresses.storage, config.common.max_message_bytes);
  StorageUserStore store(channel, tokens, kStorageDeadline);
  absl::StatusOr<std::string> hash = HashPassword(password, ScryptParams{});
  if (!hash.ok()) return Fail(1, hash.status().message());

  absl::StatusOr<UserRecord> user = store.GetUserByName(username);
  bool created = false;
  if (absl::IsNotFound(user.status())) {
    user = store.CreateUser(username, "admin", *hash);
    created = true;
  } else if (user.ok()) {
    user = store.UpdateUser(user->id,
                            UserUpdate{.role = "admin", .disabled = false, .password_hash = *hash});
  }
  if (!user.ok()) {
    return Fail(1, absl::StrCat("storage at ", config.common.addresses.storage, ": ",
                                user.status().message()));
  }

  {
    audit::StorageAuditWriter writer(channel, [&tokens] { return tokens.AuthorizationHeader(); });
    AuthAudit(&writer).Record(
        AuthEvent{.actor = kGatewayActor,
                  .action = created ? "auth.user.create" : "auth.password.reset",
                  .target = absl::StrCat("user:", user->id),
                  .details = {{"via", "cli"}, {"role", "admin"}}});
    if (!writer.Flush(absl::Seconds(5))) {
      std::fputs("reset-admin-password: warning: the audit event could not be written\n", stderr);
    }
  }
  std::printf("%s admin '%s' (user %lld); its sessions are revoked\n",
              created ? "created" : "reset the password of", user->username.c_str(),
              static_cast<long long>(user->id));
  return 0;
}

}  // namespace spine::gateway
