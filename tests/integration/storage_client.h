// A StorageService client that calls as a service (role "service" token signed with the
// stack's key), as the gateway, llm and tasks services do.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/poll.h"

namespace spine::testing {

class InternalClient {
 public:
  // `service` is the token subject: the calling service's name.
  explicit InternalClient(const Constellation& stack, const std::string& service = "gateway")
      : stub_(spine::v1::StorageService::NewStub(
            rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20))) {
    auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
    REQUIRE(key.ok());
    JwtSigner signer(std::move(*key), RealClock::Instance());
    token_ = "Bearer " + *signer.Sign(service, "spine-" + service, "service");
  }

  std::unique_ptr<grpc::ClientContext> Context() const {
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", token_);
    return context;
  }
  spine::v1::StorageService::Stub& operator*() { return *stub_; }
  spine::v1::StorageService::Stub* operator->() { return stub_.get(); }

 private:
  std::unique_ptr<spine::v1::StorageService::Stub> stub_;
  std::string token_;
};

// Makes users with ids 1..`user_id` exist in the stack's storage, so a token minted for
// `user_id` passes the gateway's check that its user exists. Id 1 is the first admin the
// gateway creates in the background, so that one is waited for; the others are created as
// "user<id>" (ids are assigned in order). Nothing to do without storage: the gateway cannot ask
// and lets the token through. Non-numeric ids are left alone. One caller at a time: tests call
// it from several threads at once, and two callers counting the same users would both create
// the next one.
inline void EnsureUserIds(const Constellation& stack, const std::string& user_id) {
  int64_t highest = 0;
  if (!stack.runs("storage") || !absl::SimpleAtoi(user_id, &highest)) return;
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  InternalClient storage(stack);
  int64_t users = 0;
  // No push signal exists for "first admin created".
  PollUntil(
      [&] {
        spine::v1::CountUsersResponse count;
        if (storage->CountUsers(storage.Context().get(), {}, &count).ok()) users = count.count();
        return users >= 1 || !stack.runs("gateway");
      },
      absl::Seconds(20), absl::Milliseconds(50));
  for (int64_t id = users + 1; id <= highest; ++id) {
    spine::v1::CreateUserRecordRequest request;
    request.set_username(absl::StrCat("user", id));
    request.set_role("user");
    request.set_password_hash("not a usable hash");
    spine::v1::UserRecord created;
    REQUIRE(storage->CreateUserRecord(storage.Context().get(), request, &created).ok());
    REQUIRE(created.id() == id);
  }
}

}  // namespace spine::testing
