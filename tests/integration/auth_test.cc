// The gateway's AuthService over gRPC against a real spine-storage: the first admin, the JWT
// round trip (login → GetMe → refresh → old refresh rejected → logout → refresh rejected), user
// administration and lockout.
#include <catch2/catch.hpp>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/rpc/channel.h"
#include "spine/v1/auth.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

// What Constellation configures: SPINE_ADMIN_USERNAME is left at its default and
// SPINE_ADMIN_PASSWORD_FILE holds this password (see constellation.cc).
constexpr char kAdminUsername[] = "admin";
constexpr char kAdminPassword[] = "integration-test-password";

class AuthClient {
 public:
  explicit AuthClient(const Constellation& stack)
      : stub_(spine::v1::AuthService::NewStub(
            rpc::MakeChannel(stack.GrpcAddress("gateway"), 4 << 20))) {}

  grpc::Status Login(const std::string& username, const std::string& password,
                     spine::v1::SessionTokens* tokens) {
    spine::v1::LoginRequest request;
    request.set_username(username);
    request.set_password(password);
    return stub_->Login(Context("").get(), request, tokens);
  }
  // Starts a login without waiting; `done` runs on a gRPC thread.
  void LoginAsync(grpc::ClientContext* context, const spine::v1::LoginRequest* request,
                  spine::v1::SessionTokens* tokens, std::function<void(grpc::Status)> done) {
    stub_->async()->Login(context, request, tokens, std::move(done));
  }
  grpc::Status Refresh(const std::string& refresh_token, spine::v1::SessionTokens* tokens) {
    spine::v1::RefreshRequest request;
    request.set_refresh_token(refresh_token);
    return stub_->Refresh(Context("").get(), request, tokens);
  }
  grpc::Status Logout(const std::string& access_token, const std::string& refresh_token) {
    spine::v1::LogoutRequest request;
    request.set_refresh_token(refresh_token);
    google::protobuf::Empty response;
    return stub_->Logout(Context(access_token).get(), request, &response);
  }
  grpc::Status GetMe(const std::string& access_token, spine::v1::User* user) {
    return stub_->GetMe(Context(access_token).get(), spine::v1::GetMeRequest(), user);
  }
  grpc::Status CreateUser(const std::string& access_token, const std::string& username,
                          const std::string& password, const std::string& role,
                          spine::v1::User* user) {
    spine::v1::CreateUserRequest request;
    request.set_username(username);
    request.set_password(password);
    request.set_role(role);
    return stub_->CreateUser(Context(access_token).get(), request, user);
  }
  grpc::Status ListUsers(const std::string& access_token, spine::v1::ListUsersResponse* users) {
    return stub_->ListUsers(Context(access_token).get(), spine::v1::ListUsersRequest(), users);
  }

 private:
  static std::unique_ptr<grpc::ClientContext> Context(const std::string& access_token) {
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    if (!access_token.empty()) context->AddMetadata("authorization", "Bearer " + access_token);
    return context;
  }

  std::unique_ptr<spine::v1::AuthService::Stub> stub_;
};

// Starts storage and the gateway and waits until the gateway's background bootstrap has created
// the first admin (asked of storage directly, so no failed login counts toward the lockout).
void StartAndWaitForFirstAdmin(Constellation& stack) {
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  InternalClient storage(stack);
  // No push signal for "user created": poll storage.
  const int64_t users = PollFor(
      [&]() -> int64_t {
        spine::v1::CountUsersResponse response;
        if (!storage->CountUsers(storage.Context().get(), {}, &response).ok()) return 0;
        return response.count();
      },
      [](int64_t count) { return count > 0; }, absl::Seconds(20), absl::Milliseconds(50));
  INFO(stack.Log("gateway"));
  REQUIRE(users == 1);
}

}  // namespace

TEST_CASE("auth over gRPC: first admin, token round trip and user administration") {
  Constellation stack({"storage", "gateway"});
  StartAndWaitForFirstAdmin(stack);
  AuthClient auth(stack);

  // The first admin logs in.
  spine::v1::SessionTokens login;
  REQUIRE(auth.Login(kAdminUsername, kAdminPassword, &login).ok());
  CHECK(login.token_type() == "Bearer");
  CHECK(login.expires_in() == 900);
  CHECK(login.refresh_expires_in() == 30 * 24 * 3600);

  spine::v1::User me;
  REQUIRE(auth.GetMe(login.access_token(), &me).ok());
  CHECK(me.username() == kAdminUsername);
  CHECK(me.role() == "admin");
  CHECK(me.id() > 0);

  // Refresh rotates; the spent token is refused afterwards.
  spine::v1::SessionTokens refreshed;
  REQUIRE(auth.Refresh(login.refresh_token(), &refreshed).ok());
  CHECK(refreshed.refresh_token() != login.refresh_token());
  spine::v1::User me_again;
  REQUIRE(auth.GetMe(refreshed.access_token(), &me_again).ok());
  CHECK(me_again.id() == me.id());
  spine::v1::SessionTokens unused;
  CHECK(auth.Refresh(login.refresh_token(), &unused).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  // That reuse revoked the family: the rotated token is dead too.
  CHECK(auth.Refresh(refreshed.refresh_token(), &unused).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);

  // Logout revokes a live session's refresh token; logout needs an access token.
  spine::v1::SessionTokens session;
  REQUIRE(auth.Login(kAdminUsername, kAdminPassword, &session).ok());
  CHECK(auth.Logout("", session.refresh_token()).error_code() == grpc::StatusCode::UNAUTHENTICATED);
  REQUIRE(auth.Logout(session.access_token(), session.refresh_token()).ok());
  CHECK(auth.Refresh(session.refresh_token(), &unused).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  // Logging out revoked the access token presented, so it cannot log out again; another
  // session's token can, and logout stays idempotent for the (already revoked) refresh token.
  CHECK(auth.Logout(session.access_token(), session.refresh_token()).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);
  spine::v1::SessionTokens another;
  REQUIRE(auth.Login(kAdminUsername, kAdminPassword, &another).ok());
  CHECK(auth.Logout(another.access_token(), session.refresh_token()).ok());
  // (That logout revoked `another`'s access token too: the one presented.)
  spine::v1::SessionTokens admin;
  REQUIRE(auth.Login(kAdminUsername, kAdminPassword, &admin).ok());

  // The admin creates a user, who can log in but not administer.
  spine::v1::User bob;
  REQUIRE(auth.CreateUser(admin.access_token(), "bob", "bob's long password", "user", &bob).ok());
  CHECK(bob.username() == "bob");
  CHECK(bob.role() == "user");
  CHECK(bob.id() > me.id());
  spine::v1::User ignored;
  CHECK(auth.CreateUser(admin.access_token(), "bob", "bob's long password", "user", &ignored)
            .error_code() == grpc::StatusCode::ALREADY_EXISTS);
  const grpc::Status bad_name =
      auth.CreateUser(admin.access_token(), "Bob!", "bob's long password", "user", &ignored);
  CHECK(bad_name.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(bad_name.error_message().rfind("username:", 0) == 0);
  CHECK(
      auth.CreateUser(admin.access_token(), "carol", "too short", "user", &ignored).error_code() ==
      grpc::StatusCode::INVALID_ARGUMENT);

  spine::v1::SessionTokens bob_login;
  REQUIRE(auth.Login("bob", "bob's long password", &bob_login).ok());
  spine::v1::User bob_me;
  REQUIRE(auth.GetMe(bob_login.access_token(), &bob_me).ok());
  CHECK(bob_me.id() == bob.id());
  CHECK(bob_me.role() == "user");
  CHECK(
      auth.CreateUser(bob_login.access_token(), "mallory", "mallory's password", "admin", &ignored)
          .error_code() == grpc::StatusCode::PERMISSION_DENIED);
  spine::v1::ListUsersResponse users;
  CHECK(auth.ListUsers(bob_login.access_token(), &users).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  REQUIRE(auth.ListUsers(admin.access_token(), &users).ok());
  REQUIRE(users.users_size() == 2);
  CHECK(users.users(0).username() == kAdminUsername);
  CHECK(users.users(1).username() == "bob");

  // Wrong password and unknown user: one answer.
  const grpc::Status wrong = auth.Login("bob", "not bob's password", &unused);
  const grpc::Status unknown = auth.Login("nobody", "not bob's password", &unused);
  CHECK(wrong.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(unknown.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(wrong.error_message() == unknown.error_message());

  // Nothing secret reaches the gateway's log.
  const std::string log = stack.Log("gateway");
  for (const std::string& secret :
       {std::string(kAdminPassword), std::string("bob's long password"), login.access_token(),
        login.refresh_token(), refreshed.refresh_token(), bob_login.refresh_token()}) {
    CHECK(log.find(secret) == std::string::npos);
  }
}

TEST_CASE("auth over gRPC: ten wrong passwords lock the username") {
  Constellation stack({"storage", "gateway"});
  StartAndWaitForFirstAdmin(stack);
  AuthClient auth(stack);
  spine::v1::SessionTokens unused;
  for (int i = 0; i < 10; ++i) {
    CHECK(auth.Login(kAdminUsername, "a wrong password", &unused).error_code() ==
          grpc::StatusCode::UNAUTHENTICATED);
  }
  const grpc::Status locked = auth.Login(kAdminUsername, kAdminPassword, &unused);
  CHECK(locked.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(locked.error_message().find("locked until") != std::string::npos);
}

TEST_CASE("auth over gRPC: a burst of logins beyond the hashing queue is refused at once") {
  Constellation stack({"storage", "gateway"});
  StartAndWaitForFirstAdmin(stack);
  AuthClient auth(stack);

  // Far more logins at once than the pool's 2 threads and 32 queue slots take; each costs ~100 ms
  // of scrypt, so they all arrive while the first ones are still hashing.
  constexpr int kLogins = 80;
  struct Call {
    std::unique_ptr<grpc::ClientContext> context = rpc::MakeClientContext(absl::Seconds(30));
    spine::v1::LoginRequest request;
    spine::v1::SessionTokens response;
  };
  std::vector<Call> calls(kLogins);
  absl::Mutex mu;
  std::vector<grpc::Status> statuses;
  absl::BlockingCounter finished(kLogins);
  for (Call& call : calls) {
    call.request.set_username(kAdminUsername);
    call.request.set_password(kAdminPassword);
    auth.LoginAsync(call.context.get(), &call.request, &call.response, [&](grpc::Status status) {
      {
        absl::MutexLock lock(&mu);
        statuses.push_back(std::move(status));
      }
      finished.DecrementCount();
    });
  }
  finished.Wait();

  int ok = 0;
  int refused = 0;
  for (const grpc::Status& status : statuses) {
    if (status.ok()) {
      ++ok;
    } else {
      INFO(status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::UNAVAILABLE);
      CHECK(absl::StrContains(status.error_message(), "too many password checks in progress"));
      ++refused;
    }
  }
  CHECK(ok >= 2);
  CHECK(refused >= kLogins - 34 - 10);  // 2 running + 32 queued, with slack for early finishers
  // The gateway is still fine afterwards.
  spine::v1::SessionTokens tokens;
  CHECK(auth.Login(kAdminUsername, kAdminPassword, &tokens).ok());
}

}  // namespace spine::testing
