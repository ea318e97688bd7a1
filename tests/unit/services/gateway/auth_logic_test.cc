// AuthLogic against a FakeUserStore and a FakeClock, with cheap scrypt parameters: login and
// lockout, refresh rotation and reuse detection, logout, the caller's profile, user creation and
// the first admin.
#include "services/gateway/auth/auth_logic.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/auth/password_hash.h"
#include "libs/core/clock.h"
#include "services/gateway/auth/first_admin.h"
#include "services/gateway/auth/service_token_source.h"
#include "tests/unit/services/gateway/auth_fixture.h"

namespace spine::gateway {
namespace {

using testing::AuthFixture;
using testing::Keys;
using testing::MakeKeys;
using testing::Unwrap;

constexpr char kAlicePassword[] = "correct horse battery";

absl::StatusCode Code(const absl::Status& status) { return status.code(); }

}  // namespace

TEST_CASE("login with the right password returns a bearer session") {
  AuthFixture auth;
  const int64_t id = auth.AddUser("alice", kAlicePassword, "admin");

  const SessionTokens tokens = Unwrap(auth.logic.Login("alice", kAlicePassword));
  CHECK(tokens.token_type == "Bearer");
  CHECK(tokens.expires_in == 15 * 60);
  CHECK(tokens.refresh_expires_in == 30 * 24 * 3600);
  CHECK(tokens.refresh_token.size() == 43);  // 32 random bytes, base64url

  const AccessClaims claims = Unwrap(auth.verifier.Verify(tokens.access_token));
  CHECK(claims.sub == std::to_string(id));
  CHECK(claims.name == "alice");
  CHECK(claims.role == "admin");
  CHECK(claims.exp - claims.iat == absl::Minutes(15));

  SECTION("the username matches case-insensitively") {
    CHECK(auth.logic.Login("ALICE", kAlicePassword).ok());
  }
}

TEST_CASE("a wrong password and an unknown username fail with the same error") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);

  const absl::Status wrong = auth.logic.Login("alice", "not the password").status();
  const absl::Status unknown = auth.logic.Login("mallory", kAlicePassword).status();
  const absl::Status absurd = auth.logic.Login(std::string(100, 'x'), kAlicePassword).status();
  for (const absl::Status& status : {wrong, unknown, absurd}) {
    CHECK(Code(status) == absl::StatusCode::kUnauthenticated);
    CHECK(status.message() == kInvalidCredentials);
  }
  // Unknown names pay for a verification too, so timing does not tell them apart.
  CHECK(auth.dummy_verifications == 2);
}

TEST_CASE("ten failed logins lock the username for fifteen minutes") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);

  for (int i = 0; i < 10; ++i) {
    CHECK(Code(auth.logic.Login("alice", "wrong password!").status()) ==
          absl::StatusCode::kUnauthenticated);
  }
  // Locked now, even for the right password and whatever the case of the name.
  const absl::Status locked = auth.logic.Login("Alice", kAlicePassword).status();
  CHECK(Code(locked) == absl::StatusCode::kResourceExhausted);
  CHECK(absl::StrContains(locked.message(), "locked until 2023-11-14T22:28:20Z"));
  CHECK(absl::StrContains(locked.message(), "retry in 900 s"));

  auth.clock.Advance(absl::Minutes(15) - absl::Seconds(1));
  CHECK(Code(auth.logic.Login("alice", kAlicePassword).status()) ==
        absl::StatusCode::kResourceExhausted);
  auth.clock.Advance(absl::Seconds(1));
  CHECK(auth.logic.Login("alice", kAlicePassword).ok());
}

TEST_CASE("failures spread over more than fifteen minutes do not lock") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);
  for (int i = 0; i < 12; ++i) {
    CHECK(Code(auth.logic.Login("alice", "wrong password!").status()) ==
          absl::StatusCode::kUnauthenticated);
    auth.clock.Advance(absl::Minutes(2));  // at most 8 failures in any 15-minute window
  }
  CHECK(auth.logic.Login("alice", kAlicePassword).ok());
}

TEST_CASE("unknown usernames lock out exactly like real ones") {
  AuthFixture auth;
  for (int i = 0; i < 10; ++i) {
    CHECK(Code(auth.logic.Login("ghost", "wrong password!").status()) ==
          absl::StatusCode::kUnauthenticated);
  }
  CHECK(Code(auth.logic.Login("ghost", "wrong password!").status()) ==
        absl::StatusCode::kResourceExhausted);
}

TEST_CASE("a successful login clears the failure count") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);
  for (int i = 0; i < 9; ++i) CHECK(!auth.logic.Login("alice", "wrong password!").ok());
  REQUIRE(auth.logic.Login("alice", kAlicePassword).ok());
  for (int i = 0; i < 9; ++i) CHECK(!auth.logic.Login("alice", "wrong password!").ok());
  CHECK(auth.logic.Login("alice", kAlicePassword).ok());
}

TEST_CASE("refresh rotates the token and reissues the access token with the current role") {
  AuthFixture auth;
  const int64_t id = auth.AddUser("alice", kAlicePassword);
  const SessionTokens first = Unwrap(auth.logic.Login("alice", kAlicePassword));

  auth.store.SetRole(id, "admin");
  auth.clock.Advance(absl::Minutes(5));
  const SessionTokens second = Unwrap(auth.logic.Refresh(first.refresh_token));
  CHECK(second.refresh_token != first.refresh_token);
  CHECK(second.token_type == "Bearer");
  CHECK(second.refresh_expires_in == 30 * 24 * 3600);
  const AccessClaims claims = Unwrap(auth.verifier.Verify(second.access_token));
  CHECK(claims.sub == std::to_string(id));
  CHECK(claims.role == "admin");
  CHECK(claims.iat == auth.clock.Now());

  // The successor works, once.
  const SessionTokens third = Unwrap(auth.logic.Refresh(second.refresh_token));
  CHECK(third.refresh_token != second.refresh_token);
}

TEST_CASE("refresh token reuse revokes the family") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);
  const SessionTokens login = Unwrap(auth.logic.Login("alice", kAlicePassword));
  const SessionTokens rotated = Unwrap(auth.logic.Refresh(login.refresh_token));

  const absl::Status reused = auth.logic.Refresh(login.refresh_token).status();
  CHECK(Code(reused) == absl::StatusCode::kUnauthenticated);
  CHECK(absl::StrContains(reused.message(), "already used"));
  // The thief's replay also ends the legitimate holder's session.
  CHECK(Code(auth.logic.Refresh(rotated.refresh_token).status()) ==
        absl::StatusCode::kUnauthenticated);
  // Other sessions of the same user are other families and live on.
  const SessionTokens other = Unwrap(auth.logic.Login("alice", kAlicePassword));
  CHECK(auth.logic.Refresh(other.refresh_token).ok());
}

TEST_CASE("refresh tokens expire after thirty days") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);
  const SessionTokens login = Unwrap(auth.logic.Login("alice", kAlicePassword));
  auth.clock.Advance(absl::Hours(24 * 30));
  CHECK(Code(auth.logic.Refresh(login.refresh_token).status()) ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("malformed refresh tokens are rejected without a storage lookup") {
  AuthFixture auth;
  for (const std::string& token : {std::string(), std::string("short"), std::string(43, '!'),
                                   std::string(44, 'A'), std::string(4096, 'A')}) {
    const absl::Status status = auth.logic.Refresh(token).status();
    CHECK(Code(status) == absl::StatusCode::kUnauthenticated);
  }
  CHECK(auth.store.lookups() == 0);
  // Well-formed but never issued: looked up, same answer.
  CHECK(Code(auth.logic.Refresh(std::string(43, 'A')).status()) ==
        absl::StatusCode::kUnauthenticated);
}

TEST_CASE("logout revokes the family and is idempotent") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword);
  const SessionTokens login = Unwrap(auth.logic.Login("alice", kAlicePassword));
  const SessionTokens rotated = Unwrap(auth.logic.Refresh(login.refresh_token));

  CHECK(auth.logic.Logout(rotated.refresh_token).ok());
  CHECK(Code(auth.logic.Refresh(rotated.refresh_token).status()) ==
        absl::StatusCode::kUnauthenticated);
  CHECK(auth.logic.Logout(rotated.refresh_token).ok());  // again
  CHECK(auth.logic.Logout(std::string(43, 'A')).ok());   // never issued
  CHECK(auth.logic.Logout("not a token").ok());          // malformed
  CHECK(Code(auth.logic.Logout("")) == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("GetMe returns the token subject as stored") {
  AuthFixture auth;
  const int64_t id = auth.AddUser("alice", kAlicePassword);
  const AuthUser me = Unwrap(auth.logic.GetMe(std::to_string(id)));
  CHECK(me.id == id);
  CHECK(me.username == "alice");
  CHECK(me.role == "user");
  CHECK(Code(auth.logic.GetMe("999").status()) == absl::StatusCode::kUnauthenticated);
  CHECK(Code(auth.logic.GetMe("gateway").status()) == absl::StatusCode::kUnauthenticated);
}

TEST_CASE("CreateUser validates the username, password and role") {
  AuthFixture auth;
  struct Case {
    std::string username;
    std::string password;
    std::string role;
    std::string field;
  };
  const std::string good = "twelve chars";
  const std::vector<Case> cases = {
      {"ab", good, "user", "username"},
      {std::string(33, 'a'), good, "user", "username"},
      {"Bob", good, "user", "username"},
      {"bob smith", good, "user", "username"},
      {"bob/..", good, "user", "username"},
      {"bob", "eleven char", "user", "password"},
      {"bob", std::string(129, 'p'), "user", "password"},
      {"bob", good, "root", "role"},
      {"bob", good, "", "role"},
  };
  for (const Case& c : cases) {
    INFO(c.username << " / " << c.role);
    const absl::Status status = auth.logic.CreateUser(c.username, c.password, c.role).status();
    CHECK(Code(status) == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StartsWith(status.message(), c.field + ":"));
  }
  CHECK(Unwrap(auth.store.CountUsers()) == 0);

  const AuthUser bob = Unwrap(auth.logic.CreateUser("bob.s-1_x", std::string(128, 'p'), "admin"));
  CHECK(bob.username == "bob.s-1_x");
  CHECK(bob.role == "admin");
  CHECK(Unwrap(auth.logic.CreateUser("abc", good, "user")).role == "user");
  CHECK(Code(auth.logic.CreateUser("abc", good, "user").status()) ==
        absl::StatusCode::kAlreadyExists);
  // The new user can log in; the hash was made with the injected parameters.
  CHECK(auth.logic.Login("abc", good).ok());
  CHECK(absl::StartsWith(Unwrap(auth.store.GetUserByName("abc")).password_hash, "$scrypt$ln=10,"));
}

TEST_CASE("ListUsers lists every user without password hashes") {
  AuthFixture auth;
  auth.AddUser("alice", kAlicePassword, "admin");
  auth.AddUser("bob", kAlicePassword);
  const std::vector<AuthUser> users = Unwrap(auth.logic.ListUsers());
  REQUIRE(users.size() == 2);
  CHECK(users[0].username == "alice");
  CHECK(users[0].role == "admin");
  CHECK(users[1].username == "bob");
}

TEST_CASE("the first admin is created only when there are no users") {
  AuthFixture auth;
  CHECK(Unwrap(auth.logic.EnsureFirstAdmin("admin", "first admin password")));
  CHECK(!Unwrap(auth.logic.EnsureFirstAdmin("admin", "first admin password")));
  CHECK(Unwrap(auth.logic.ListUsers()).size() == 1);
  const SessionTokens tokens = Unwrap(auth.logic.Login("admin", "first admin password"));
  CHECK(Unwrap(auth.verifier.Verify(tokens.access_token)).role == "admin");

  AuthFixture fresh;
  CHECK(Code(fresh.logic.EnsureFirstAdmin("Admin!", "first admin password").status()) ==
        absl::StatusCode::kInvalidArgument);
  CHECK(Code(fresh.logic.EnsureFirstAdmin("admin", "short").status()) ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the first-admin bootstrap retries until storage answers") {
  AuthFixture auth;
  auth.store.FailNextCalls(3);
  auto bootstrap =
      FirstAdminBootstrap::Start(auth.logic, "admin", "first admin password",
                                 {.initial = absl::Milliseconds(1), .max = absl::Milliseconds(4)});
  REQUIRE(bootstrap->WaitDone(absl::Seconds(30)));
  CHECK(bootstrap->AdminExists());  // what /readyz waits for
  CHECK(Unwrap(auth.store.GetUserByName("admin")).role == "admin");
}

TEST_CASE("the first admin is known to exist when users were there already") {
  AuthFixture auth;
  auth.AddUser("someone", kAlicePassword, "admin");
  auto bootstrap = FirstAdminBootstrap::Start(auth.logic, "admin", "first admin password",
                                              {.initial = absl::Milliseconds(1)});
  REQUIRE(bootstrap->WaitDone(absl::Seconds(30)));
  CHECK(bootstrap->AdminExists());
}

TEST_CASE("no first admin exists after giving up on invalid settings, or while retrying") {
  AuthFixture auth;
  auto invalid = FirstAdminBootstrap::Start(auth.logic, "Admin!", "first admin password",
                                            {.initial = absl::Milliseconds(1)});
  REQUIRE(invalid->WaitDone(absl::Seconds(30)));
  CHECK_FALSE(invalid->AdminExists());  // nobody can log in as the configured admin

  auth.store.FailNextCalls(1'000'000);
  auto retrying = FirstAdminBootstrap::Start(auth.logic, "admin", "first admin password",
                                             {.initial = absl::Hours(1), .max = absl::Hours(1)});
  CHECK_FALSE(retrying->AdminExists());
  retrying->Stop();
  CHECK_FALSE(retrying->AdminExists());
}

TEST_CASE("the first-admin bootstrap stops promptly while storage is down") {
  AuthFixture auth;
  auth.store.FailNextCalls(1'000'000);
  auto bootstrap = FirstAdminBootstrap::Start(auth.logic, "admin", "first admin password",
                                              {.initial = absl::Hours(1), .max = absl::Hours(1)});
  bootstrap->Stop();  // wakes the hour-long backoff at once
  CHECK(!bootstrap->WaitDone(absl::ZeroDuration()));
}

TEST_CASE("the gateway's service token is re-minted after half its lifetime") {
  Keys keys = MakeKeys();
  FakeClock clock;
  const JwtVerifier verifier(std::move(keys.public_keys), clock);
  const ServiceTokenSource source(std::move(keys.private_key), clock);

  const std::string first = Unwrap(source.AuthorizationHeader());
  REQUIRE(absl::StartsWith(first, "Bearer "));
  const AccessClaims claims = Unwrap(verifier.Verify(first.substr(7)));
  CHECK(claims.role == "service");
  CHECK(claims.sub == "gateway");
  CHECK(claims.exp - claims.iat == kServiceTokenSourceTtl);

  clock.Advance(kServiceTokenSourceTtl / 2 - absl::Seconds(1));
  CHECK(Unwrap(source.AuthorizationHeader()) == first);
  clock.Advance(absl::Seconds(1));
  const std::string second = Unwrap(source.AuthorizationHeader());
  CHECK(second != first);
  CHECK(Unwrap(verifier.Verify(second.substr(7))).iat == clock.Now());
}

TEST_CASE("a stranger's failed logins lock out the stranger, not the user elsewhere") {
  AuthFixture auth;
  auth.AddUser("admin", kAlicePassword, "admin");
  // The attacker at 203.0.113.9 guesses ten times...
  for (int i = 0; i < 10; ++i) {
    CHECK(Code(auth.logic.Login("admin", "wrong password!", "203.0.113.9").status()) ==
          absl::StatusCode::kUnauthenticated);
  }
  // ...and is locked out, even with the right password...
  CHECK(Code(auth.logic.Login("admin", kAlicePassword, "203.0.113.9").status()) ==
        absl::StatusCode::kResourceExhausted);
  // ...while the admin logging in from 198.51.100.4 is not.
  CHECK(auth.logic.Login("Admin", kAlicePassword, "198.51.100.4").ok());
  CHECK(Code(auth.logic.Login("admin", kAlicePassword, "203.0.113.9").status()) ==
        absl::StatusCode::kResourceExhausted);
}

TEST_CASE("revoking a family stops its live access tokens") {
  AuthFixture auth(AuthFixture::Revocations::kTracked);
  const AuthLogic& logic = auth.logic;
  const SessionRevocations& revocations = auth.revocations;
  auth.AddUser("alice", kAlicePassword);
  auto jti = [&](const SessionTokens& tokens) {
    return Unwrap(auth.verifier.Verify(tokens.access_token)).jti;
  };

  // Logout: the family's access tokens, from login and from every rotation, are revoked.
  const SessionTokens login = Unwrap(logic.Login("alice", kAlicePassword));
  const SessionTokens rotated = Unwrap(logic.Refresh(login.refresh_token));
  const SessionTokens other = Unwrap(logic.Login("alice", kAlicePassword));
  CHECK_FALSE(revocations.IsRevoked(jti(rotated)));
  REQUIRE(logic.Logout(rotated.refresh_token).ok());
  CHECK(revocations.IsRevoked(jti(login)));
  CHECK(revocations.IsRevoked(jti(rotated)));
  CHECK_FALSE(revocations.IsRevoked(jti(other)));  // another session lives on

  // Reuse of a spent refresh token revokes the thief's and the holder's access tokens alike.
  const SessionTokens next = Unwrap(logic.Refresh(other.refresh_token));
  CHECK_FALSE(logic.Refresh(other.refresh_token).ok());
  CHECK(revocations.IsRevoked(jti(other)));
  CHECK(revocations.IsRevoked(jti(next)));

  // Revocations are forgotten once the tokens have expired anyway.
  const std::string login_jti = jti(login);
  auth.clock.Advance(absl::Minutes(16));
  CHECK_FALSE(revocations.IsRevoked(login_jti));
}

TEST_CASE("the revocation list stays within its capacity") {
  FakeClock clock;
  SessionRevocations revocations(clock, /*capacity=*/8);
  for (int i = 0; i < 100; ++i) {
    revocations.RevokeToken(absl::StrCat("jti-", i), clock.Now() + absl::Minutes(15));
    revocations.RecordIssued("7", absl::StrCat("family-", i), absl::StrCat("hash-", i),
                             absl::StrCat("issued-", i), clock.Now() + absl::Minutes(15));
    clock.Advance(absl::Seconds(1));
  }
  CHECK(revocations.revoked_size() <= 8);
  CHECK(revocations.IsRevoked("jti-99"));  // the newest revocations survive
  revocations.RevokeFamilyOf("hash-99");
  CHECK(revocations.IsRevoked("issued-99"));
}

}  // namespace spine::gateway
