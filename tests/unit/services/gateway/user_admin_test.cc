// User administration in AuthLogic (passwords, roles, disabling, deleting) and API keys
// (format, scopes, ApiKeyGate) against a FakeUserStore and a FakeClock.
#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/auth/password_hash.h"
#include "libs/core/clock.h"
#include "libs/core/worker_pool.h"
#include "libs/rpc/error_info.h"
#include "services/gateway/auth/api_keys.h"
#include "services/gateway/auth/auth_logic.h"
#include "services/gateway/auth/session_gate.h"
#include "services/gateway/auth/session_revocations.h"
#include "tests/support/poll.h"
#include "tests/unit/services/gateway/auth_fixture.h"

namespace spine::gateway {
namespace {

using testing::AuthFixture;
using testing::Unwrap;

constexpr char kPassword[] = "correct horse battery";

// The shared AuthFixture with revocations tracked, plus the session gate and the API key gate,
// as the gateway wires them.
struct Stack : AuthFixture {
  Stack()
      : AuthFixture(Revocations::kTracked),
        pool(Unwrap(WorkerPool::Create(1, 16))),
        gate(revocations, store, *pool, clock),
        api_keys(store, signer, revocations, *pool, clock) {}

  // A user whose password is kPassword.
  int64_t AddUser(const std::string& name, const std::string& role = "user") {
    return AuthFixture::AddUser(name, kPassword, role);
  }
  // Whether the session gate lets `access_token` through.
  absl::Status Gate(const std::string& access_token) {
    return gate.CheckNow(Unwrap(verifier.Verify(access_token)));
  }
  absl::StatusOr<std::string> Resolve(const std::string& key, const std::string& method = "GET",
                                      const std::string& path = "/api/thoughts") {
    absl::Notification done;
    absl::StatusOr<std::string> result;
    api_keys.Resolve(key, method, path, [&](absl::StatusOr<std::string> token) {
      result = std::move(token);
      done.Notify();
    });
    done.WaitForNotification();
    return result;
  }

  std::unique_ptr<WorkerPool> pool;
  SessionGate gate;
  ApiKeyGate api_keys;
};

std::string Reason(const absl::Status& status) {
  const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

// Whether the key's last use reaches the store (written from a pool thread) within 10 s.
bool PollUntilTouched(Stack& stack, const std::string& prefix) {
  return spine::testing::PollUntil([&] {
    absl::StatusOr<ApiKeyRecord> key = stack.store.GetApiKeyByPrefix(prefix);
    return key.ok() && key->last_use_time.has_value();
  });
}

}  // namespace

TEST_CASE("changing one's password needs the old one and ends every session") {
  Stack stack;
  const int64_t id = stack.AddUser("alice");
  const SessionTokens first = Unwrap(stack.logic.Login("alice", kPassword));
  const SessionTokens second = Unwrap(stack.logic.Login("alice", kPassword));

  const absl::Status wrong =
      stack.logic.ChangePassword(absl::StrCat(id), "not the password", "a new password!!");
  CHECK(wrong.code() == absl::StatusCode::kPermissionDenied);
  CHECK(Reason(wrong) == kWrongPasswordReason);
  // Nothing changed.
  CHECK(stack.logic.Login("alice", kPassword).ok());
  CHECK(stack.Gate(first.access_token).ok());

  const absl::Status weak = stack.logic.ChangePassword(absl::StrCat(id), kPassword, "short");
  CHECK(weak.code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StartsWith(weak.message(), "newPassword: "));

  REQUIRE(stack.logic.ChangePassword(absl::StrCat(id), kPassword, "a new password!!").ok());
  CHECK(stack.Gate(first.access_token).code() == absl::StatusCode::kUnauthenticated);
  CHECK(stack.Gate(second.access_token).code() == absl::StatusCode::kUnauthenticated);
  CHECK(stack.logic.Refresh(first.refresh_token).status().code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(stack.logic.Refresh(second.refresh_token).status().code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(stack.logic.Login("alice", kPassword).status().code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(stack.logic.Login("alice", "a new password!!").ok());
}

TEST_CASE("a disabled user cannot log in or refresh, and its tokens stop at once") {
  Stack stack;
  stack.AddUser("root", "admin");
  const int64_t id = stack.AddUser("alice");
  const SessionTokens session = Unwrap(stack.logic.Login("alice", kPassword));
  REQUIRE(stack.Gate(session.access_token).ok());  // now cached by the gate

  const AuthUser disabled = Unwrap(stack.logic.SetDisabled(id, true));
  CHECK(disabled.disabled);
  CHECK(stack.Gate(session.access_token).code() == absl::StatusCode::kUnauthenticated);
  CHECK(stack.logic.Refresh(session.refresh_token).status().code() ==
        absl::StatusCode::kUnauthenticated);
  const absl::Status login = stack.logic.Login("alice", kPassword).status();
  CHECK(login.code() == absl::StatusCode::kUnauthenticated);
  CHECK(login.message() == kInvalidCredentials);  // a guesser learns nothing

  REQUIRE(stack.logic.SetDisabled(id, false).ok());
  const SessionTokens again = Unwrap(stack.logic.Login("alice", kPassword));
  CHECK(stack.Gate(again.access_token).ok());
}

TEST_CASE("another gateway's change reaches the session gate within its cache time") {
  Stack stack;
  stack.AddUser("root", "admin");
  const int64_t id = stack.AddUser("alice");
  const SessionTokens session = Unwrap(stack.logic.Login("alice", kPassword));
  REQUIRE(stack.Gate(session.access_token).ok());
  // Changed behind this gateway's back: the cached answer holds for its ttl, then not.
  REQUIRE(stack.store.UpdateUser(id, {.disabled = true}).ok());
  CHECK(stack.Gate(session.access_token).ok());
  stack.clock.Advance(absl::Seconds(5));
  CHECK(Reason(stack.Gate(session.access_token)) == "ACCOUNT_DISABLED");
}

TEST_CASE("a new role ends the tokens that carry the old one; the last admin stays") {
  Stack stack;
  const int64_t root = stack.AddUser("root", "admin");
  const int64_t alice = stack.AddUser("alice");
  const SessionTokens admin_session = Unwrap(stack.logic.Login("root", kPassword));

  for (const absl::Status& status :
       {stack.logic.SetRole(root, "user").status(), stack.logic.SetDisabled(root, true).status(),
        stack.logic.DeleteUser(root)}) {
    CHECK(status.code() == absl::StatusCode::kAborted);
    CHECK(Reason(status) == kLastAdminReason);
  }
  CHECK(stack.Gate(admin_session.access_token).ok());
  CHECK(stack.logic.SetRole(alice, "root").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(stack.logic.SetRole(999, "user").status().code() == absl::StatusCode::kNotFound);

  REQUIRE(stack.logic.SetRole(alice, "admin").ok());
  REQUIRE(stack.logic.SetRole(root, "user").ok());
  CHECK(stack.Gate(admin_session.access_token).code() == absl::StatusCode::kUnauthenticated);
  const SessionTokens user_session = Unwrap(stack.logic.Login("root", kPassword));
  CHECK(Unwrap(stack.verifier.Verify(user_session.access_token)).role == "user");
  CHECK(stack.Gate(user_session.access_token).ok());
}

TEST_CASE("a deleted user's sessions end and its keys go") {
  Stack stack;
  stack.AddUser("root", "admin");
  const int64_t id = stack.AddUser("alice");
  const SessionTokens session = Unwrap(stack.logic.Login("alice", kPassword));
  const CreatedApiKey key = Unwrap(stack.logic.CreateApiKey(id, "cron", "read", 0));
  REQUIRE(stack.Resolve(key.secret).ok());
  REQUIRE(stack.logic.DeleteUser(id).ok());
  CHECK(stack.Gate(session.access_token).code() == absl::StatusCode::kUnauthenticated);
  CHECK(stack.logic.Refresh(session.refresh_token).status().code() ==
        absl::StatusCode::kUnauthenticated);
  CHECK(Reason(stack.Resolve(key.secret).status()) == "API_KEY_INVALID");
  CHECK(stack.logic.DeleteUser(id).code() == absl::StatusCode::kNotFound);
}

TEST_CASE("an API key has a fixed shape that tells it from a JWT") {
  const NewApiKey key = Unwrap(MakeApiKey());
  CHECK(key.key.size() == 60);
  CHECK(absl::StartsWith(key.key, "spk_" + key.prefix + "_"));
  CHECK(IsApiKey(key.key));
  CHECK_FALSE(IsApiKey("eyJhbGciOiJFZERTQSJ9.e30.sig"));
  const auto parsed = ParseApiKey(key.key);
  REQUIRE(parsed.has_value());
  CHECK(parsed->prefix == key.prefix);
  CHECK(parsed->secret_hash == key.secret_hash);
  CHECK(Unwrap(MakeApiKey()).key != key.key);
  for (const std::string& bad :
       {std::string("spk_"), key.key.substr(0, 59), key.key + "A",
        "spk_ZZZZZZZZZZZZ" + key.key.substr(16), "xyz_" + key.key.substr(4),
        key.key.substr(0, 16) + "-" + key.key.substr(17)}) {
    CHECK_FALSE(ParseApiKey(bad).has_value());
  }
}

TEST_CASE("an API key's scope decides the methods, and no key manages credentials") {
  CHECK(CheckApiKeyScope("read", "GET", "/api/thoughts").ok());
  CHECK(CheckApiKeyScope("read", "HEAD", "/api/thoughts").ok());
  CHECK(CheckApiKeyScope("read", "GET", "/api/auth/me").ok());
  CHECK(Reason(CheckApiKeyScope("read", "POST", "/api/thoughts")) == "API_KEY_SCOPE");
  CHECK(CheckApiKeyScope("read", "DELETE", "/api/thoughts/1").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(CheckApiKeyScope("write", "POST", "/api/thoughts").ok());
  CHECK(CheckApiKeyScope("write", "DELETE", "/api/thoughts/1").ok());
  CHECK(CheckApiKeyScope("nonsense", "GET", "/api/thoughts").code() ==
        absl::StatusCode::kPermissionDenied);
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"POST", "/api/auth/password"},
                                                        {"POST", "/api/auth/refresh"},
                                                        {"POST", "/api/auth/logout"},
                                                        {"GET", "/api/apikeys"},
                                                        {"POST", "/api/apikeys"},
                                                        {"DELETE", "/api/apikeys/3"},
                                                        {"POST", "/api/users/2/password"}}) {
    INFO(method << " " << path);
    CHECK(CheckApiKeyScope("write", method, path).code() == absl::StatusCode::kPermissionDenied);
  }
}

TEST_CASE("the API key gate admits a key as its user, by scope, until revoked or expired") {
  Stack stack;
  const int64_t id = stack.AddUser("alice");
  const CreatedApiKey read = Unwrap(stack.logic.CreateApiKey(id, "report", "", 0));
  CHECK(read.key.scope == "read");
  CHECK(read.key.expire_time == stack.clock.Now() + absl::Hours(24 * 90));

  const std::string token = Unwrap(stack.Resolve(read.secret));
  const AccessClaims claims = Unwrap(stack.verifier.Verify(token));
  CHECK(claims.sub == absl::StrCat(id));
  CHECK(claims.role == "user");
  CHECK(stack.Gate(token).ok());
  CHECK(Reason(stack.Resolve(read.secret, "POST").status()) == "API_KEY_SCOPE");

  SECTION("a wrong secret for a known prefix is refused, cached entry or not") {
    std::string wrong = read.secret;
    wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
    CHECK(Reason(stack.Resolve(wrong).status()) == "API_KEY_INVALID");
    stack.clock.Advance(absl::Seconds(10));  // past the cache: from storage
    CHECK(Reason(stack.Resolve(wrong).status()) == "API_KEY_INVALID");
    CHECK(stack.Resolve(read.secret).ok());
  }
  SECTION("revoked, it is refused at once, and so is the token minted for it") {
    const ApiKeyRecord revoked = Unwrap(stack.logic.RevokeApiKey(id, read.key.id));
    stack.api_keys.Forget(revoked.prefix);
    CHECK(Reason(stack.Resolve(read.secret).status()) == "API_KEY_INVALID");
    CHECK(stack.Gate(token).code() == absl::StatusCode::kUnauthenticated);
  }
  SECTION("another user cannot revoke it") {
    const int64_t bob = stack.AddUser("bob");
    CHECK(stack.logic.RevokeApiKey(bob, read.key.id).status().code() ==
          absl::StatusCode::kNotFound);
    CHECK(stack.Resolve(read.secret).ok());
  }
  SECTION("it expires") {
    stack.clock.Advance(absl::Hours(24 * 90));
    CHECK(Reason(stack.Resolve(read.secret).status()) == "API_KEY_INVALID");
  }
  SECTION("its user's disabling stops it at once") {
    stack.AddUser("root", "admin");
    REQUIRE(stack.logic.SetDisabled(id, true).ok());
    CHECK(Reason(stack.Resolve(read.secret).status()) == "API_KEY_INVALID");
    CHECK(stack.Gate(token).code() == absl::StatusCode::kUnauthenticated);
  }
  SECTION("its last use is recorded") { CHECK(PollUntilTouched(stack, read.key.prefix)); }
}

TEST_CASE("API keys are validated when created") {
  Stack stack;
  const int64_t id = stack.AddUser("alice");
  CHECK(stack.logic.CreateApiKey(id, "", "read", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(stack.logic.CreateApiKey(id, "x", "admin", 0).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(stack.logic.CreateApiKey(id, "x", "read", 366).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(stack.logic.CreateApiKey(id, "x", "read", -1).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(stack.logic.CreateApiKey(999, "x", "read", 1).status().code() ==
        absl::StatusCode::kNotFound);
  const CreatedApiKey key = Unwrap(stack.logic.CreateApiKey(id, "x", "write", 1));
  CHECK(key.key.expire_time == stack.clock.Now() + absl::Hours(24));
  // Storage never sees the secret.
  const ApiKeyRecord stored = Unwrap(stack.store.GetApiKeyByPrefix(key.key.prefix));
  CHECK(stored.secret_hash.size() == 32);
  CHECK_FALSE(absl::StrContains(key.secret, stored.secret_hash));
}

}  // namespace spine::gateway
