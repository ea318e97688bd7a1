// A StorageService client that calls as a service (role "service" token signed with the
// stack's key), as the gateway, llm and tasks services do.
#pragma once

#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"

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

}  // namespace spine::testing
