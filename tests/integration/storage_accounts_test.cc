// spine-storage's internal account API over gRPC with a service token: users, login lockout,
// refresh-token rotation and reuse detection.
#include <catch2/catch.hpp>

#include "google/protobuf/util/time_util.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "spine/v1/common.grpc.pb.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"

namespace spine::testing {
namespace {

using google::protobuf::util::TimeUtil;

spine::v1::CreateUserRecordRequest NewUser(const std::string& name, const std::string& role) {
  spine::v1::CreateUserRecordRequest request;
  request.set_username(name);
  request.set_role(role);
  request.set_password_hash("$scrypt$ln=15,r=8,p=1$c2FsdA$aGFzaA");
  return request;
}

}  // namespace

TEST_CASE("users are created once per case-insensitive name and found by id or name") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  InternalClient storage(stack);

  spine::v1::UserRecord alice;
  REQUIRE(
      storage->CreateUserRecord(storage.Context().get(), NewUser("alice", "admin"), &alice).ok());
  CHECK(alice.id() > 0);
  spine::v1::UserRecord again;
  CHECK(storage->CreateUserRecord(storage.Context().get(), NewUser("alice", "user"), &again)
            .error_code() == grpc::StatusCode::ALREADY_EXISTS);
  for (const char* bad : {"Al", "ALICE2", "with space", "x'; DROP TABLE users; --"}) {
    INFO(bad);
    CHECK(storage->CreateUserRecord(storage.Context().get(), NewUser(bad, "user"), &again)
              .error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  CHECK(storage->CreateUserRecord(storage.Context().get(), NewUser("bob", "root"), &again)
            .error_code() == grpc::StatusCode::INVALID_ARGUMENT);

  spine::v1::GetUserRecordRequest by_name;
  by_name.set_username("ALICE");
  spine::v1::UserRecord found;
  REQUIRE(storage->GetUserRecord(storage.Context().get(), by_name, &found).ok());
  CHECK(found.id() == alice.id());
  CHECK(found.role() == "admin");
  CHECK(found.password_hash() == NewUser("x", "user").password_hash());
  spine::v1::GetUserRecordRequest by_id;
  by_id.set_id(alice.id());
  REQUIRE(storage->GetUserRecord(storage.Context().get(), by_id, &found).ok());
  CHECK(found.username() == "alice");
  by_id.set_id(alice.id() + 1000);
  CHECK(storage->GetUserRecord(storage.Context().get(), by_id, &found).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  spine::v1::CountUsersResponse count;
  REQUIRE(storage->CountUsers(storage.Context().get(), {}, &count).ok());
  CHECK(count.count() == 1);
}

TEST_CASE("ten failed logins lock a username until it is reset") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  InternalClient storage(stack);
  spine::v1::RecordLoginFailureRequest failure;
  failure.set_username("carol");
  failure.set_window_seconds(900);
  failure.set_max_failures(10);
  failure.set_lock_seconds(900);
  spine::v1::LoginLockState state;
  for (int i = 1; i <= 9; ++i) {
    REQUIRE(storage->RecordLoginFailure(storage.Context().get(), failure, &state).ok());
    CHECK(state.failures_in_window() == i);
    CHECK(!state.locked());
  }
  REQUIRE(storage->RecordLoginFailure(storage.Context().get(), failure, &state).ok());
  CHECK(state.locked());
  CHECK(state.locked_until().seconds() > TimeUtil::GetCurrentTime().seconds() + 800);

  spine::v1::GetLoginLockRequest query;
  query.set_username("CAROL");
  REQUIRE(storage->GetLoginLock(storage.Context().get(), query, &state).ok());
  CHECK(state.locked());
  spine::v1::ResetLoginFailuresRequest reset;
  reset.set_username("carol");
  google::protobuf::Empty empty;
  REQUIRE(storage->ResetLoginFailures(storage.Context().get(), reset, &empty).ok());
  REQUIRE(storage->GetLoginLock(storage.Context().get(), query, &state).ok());
  CHECK(!state.locked());

  failure.set_max_failures(0);
  CHECK(storage->RecordLoginFailure(storage.Context().get(), failure, &state).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("a refresh token rotates once; reusing it revokes the whole family") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  InternalClient storage(stack);
  spine::v1::UserRecord user;
  REQUIRE(storage->CreateUserRecord(storage.Context().get(), NewUser("erin", "user"), &user).ok());
  const auto in_a_day = TimeUtil::GetCurrentTime() + TimeUtil::SecondsToDuration(86400);

  spine::v1::CreateRefreshTokenRequest create;
  create.set_user_id(user.id());
  create.set_token_hash(std::string(32, 'a'));
  *create.mutable_expire_time() = in_a_day;
  spine::v1::RefreshTokenRecord first;
  REQUIRE(storage->CreateRefreshToken(storage.Context().get(), create, &first).ok());
  CHECK(first.family_id().size() == 32);
  CHECK(first.user_id() == user.id());

  spine::v1::RotateRefreshTokenRequest rotate;
  rotate.set_presented_hash(std::string(32, 'a'));
  rotate.set_successor_hash(std::string(32, 'b'));
  *rotate.mutable_successor_expire_time() = in_a_day;
  spine::v1::RefreshTokenRecord second;
  REQUIRE(storage->RotateRefreshToken(storage.Context().get(), rotate, &second).ok());
  CHECK(second.family_id() == first.family_id());
  CHECK(second.user_id() == user.id());

  // The stolen first token comes back: refused, and the legitimate successor dies with it.
  rotate.set_successor_hash(std::string(32, 'c'));
  CHECK(storage->RotateRefreshToken(storage.Context().get(), rotate, &second).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  rotate.set_presented_hash(std::string(32, 'b'));
  rotate.set_successor_hash(std::string(32, 'd'));
  CHECK(storage->RotateRefreshToken(storage.Context().get(), rotate, &second).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);

  create.set_token_hash("short");
  CHECK(storage->CreateRefreshToken(storage.Context().get(), create, &first).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  create.set_token_hash(std::string(32, 'e'));
  create.set_user_id(user.id() + 99);
  CHECK(storage->CreateRefreshToken(storage.Context().get(), create, &first).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  spine::v1::RevokeRefreshFamilyRequest revoke;
  revoke.set_token_hash(std::string(32, 'z'));
  google::protobuf::Empty empty;
  CHECK(storage->RevokeRefreshFamily(storage.Context().get(), revoke, &empty).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("an admin takes an online backup into the data directory, and nobody else can") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  auto stub =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  JwtSigner signer(std::move(*key), RealClock::Instance());
  auto call = [&](const std::string& role, const std::string& file_name,
                  spine::v1::BackupDatabaseResponse* out) {
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", "Bearer " + *signer.Sign("1", "operator", role));
    spine::v1::BackupDatabaseRequest request;
    request.set_file_name(file_name);
    return stub->BackupDatabase(context.get(), request, out);
  };
  spine::v1::BackupDatabaseResponse response;
  const grpc::Status first = call("admin", "nightly-1.db", &response);
  INFO(first.error_message());
  REQUIRE(first.ok());
  CHECK(response.file_name() == "nightly-1.db");
  CHECK(response.size_bytes() > 0);
  CHECK(call("admin", "nightly-1.db", &response).error_code() == grpc::StatusCode::ALREADY_EXISTS);
  for (const char* bad : {"../escape.db", "/etc/passwd", ".hidden", "", "a/b"}) {
    INFO(bad);
    CHECK(call("admin", bad, &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  }
  CHECK(call("user", "mine.db", &response).error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(call("service", "svc.db", &response).error_code() == grpc::StatusCode::PERMISSION_DENIED);

  auto status_stub =
      spine::v1::StatusService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  auto context = rpc::MakeClientContext(absl::Seconds(5));
  spine::v1::ServiceStatus status;
  REQUIRE(status_stub->GetServiceStatus(context.get(), {}, &status).ok());
  CHECK(status.db_conn());
  CHECK(status.db_size_bytes() > 0);
  CHECK(status.has_wal_size_bytes());
}

TEST_CASE("services append audit events under their own name and only admins read them") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  auto stub =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  JwtSigner signer(std::move(*key), RealClock::Instance());
  auto context_for = [&](const std::string& sub, const std::string& role) {
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", "Bearer " + *signer.Sign(sub, sub, role));
    return context;
  };

  spine::v1::AppendAuditEventRequest append;
  append.mutable_event()->set_actor("42");
  append.mutable_event()->set_service("storage");  // a lie: storage takes the token's subject
  append.mutable_event()->set_action("llm.generate");
  append.mutable_event()->set_target("model:stub");
  append.mutable_event()->set_outcome("ok");
  (*append.mutable_event()->mutable_details()->mutable_fields())["promptChars"].set_number_value(
      12);
  spine::v1::AuditEvent stored;
  REQUIRE(stub->AppendAuditEvent(context_for("llm", "service").get(), append, &stored).ok());
  CHECK(stored.service() == "llm");
  CHECK(stored.id() > 0);
  CHECK(stored.details().fields().at("promptChars").number_value() == 12);

  CHECK(stub->AppendAuditEvent(context_for("42", "user").get(), append, &stored).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  append.mutable_event()->set_outcome("shrug");
  CHECK(stub->AppendAuditEvent(context_for("llm", "service").get(), append, &stored).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);

  spine::v1::ListAuditEventsRequest list;
  list.set_actor("42");
  spine::v1::ListAuditEventsResponse events;
  CHECK(stub->ListAuditEvents(context_for("42", "user").get(), list, &events).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
  REQUIRE(stub->ListAuditEvents(context_for("1", "admin").get(), list, &events).ok());
  REQUIRE(events.events_size() == 1);
  CHECK(events.events(0).action() == "llm.generate");
  *list.mutable_end_time() = TimeUtil::SecondsToTimestamp(1);  // before everything
  REQUIRE(stub->ListAuditEvents(context_for("1", "admin").get(), list, &events).ok());
  CHECK(events.events_size() == 0);
}

}  // namespace spine::testing
