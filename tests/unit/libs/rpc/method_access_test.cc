#include "libs/rpc/method_access.h"

#include <catch2/catch.hpp>
#include <string>

#include "google/protobuf/descriptor.h"
#include "spine/api/http.pb.h"
#include "spine/v1/auth.pb.h"
#include "spine/v1/common.pb.h"
#include "spine/v1/storage.pb.h"

namespace spine::rpc {
namespace {

using spine::api::ACCESS_ADMIN;
using spine::api::ACCESS_AUTHENTICATED;
using spine::api::ACCESS_PUBLIC;

// Referencing one message per file links its generated descriptors into the pool AccessOf reads.
void LinkSpineDescriptors() {
  REQUIRE(spine::v1::LoginRequest::descriptor() != nullptr);
  REQUIRE(spine::v1::GetServiceStatusRequest::descriptor() != nullptr);
  REQUIRE(spine::v1::ListThoughtsRequest::descriptor() != nullptr);
}

bool MethodIsKnown(const std::string& full_name) {
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name) != nullptr;
}

TEST_CASE("the spine.v1 methods are known to the generated descriptor pool") {
  LinkSpineDescriptors();
  CHECK(MethodIsKnown("spine.v1.AuthService.Login"));
  CHECK(MethodIsKnown("spine.v1.AuthService.ListUsers"));
  CHECK(MethodIsKnown("spine.v1.ThoughtService.ListThoughts"));
  CHECK(MethodIsKnown("spine.v1.StatusService.GetServiceStatus"));
}

TEST_CASE("login and refresh are public") {
  LinkSpineDescriptors();
  CHECK(AccessOf("/spine.v1.AuthService/Login") == ACCESS_PUBLIC);
  CHECK(AccessOf("/spine.v1.AuthService/Refresh") == ACCESS_PUBLIC);
}

TEST_CASE("user administration requires the admin role") {
  LinkSpineDescriptors();
  CHECK(AccessOf("/spine.v1.AuthService/ListUsers") == ACCESS_ADMIN);
  CHECK(AccessOf("/spine.v1.AuthService/CreateUser") == ACCESS_ADMIN);
}

TEST_CASE("methods without an access option require authentication") {
  LinkSpineDescriptors();
  CHECK(AccessOf("/spine.v1.ThoughtService/ListThoughts") == ACCESS_AUTHENTICATED);
  CHECK(AccessOf("/spine.v1.AuthService/GetMe") == ACCESS_AUTHENTICATED);
  CHECK(AccessOf("/spine.v1.AuthService/Logout") == ACCESS_AUTHENTICATED);
}

TEST_CASE("internal services default to service-only access, and a method option overrides it") {
  LinkSpineDescriptors();
  CHECK(AccessOf("/spine.v1.StorageService/GetUserRecord") == spine::api::ACCESS_INTERNAL);
  CHECK(AccessOf("/spine.v1.StorageService/CreateUserRecord") == spine::api::ACCESS_INTERNAL);
  CHECK(AccessOf("/spine.v1.EventBus/Subscribe") == spine::api::ACCESS_INTERNAL);
  CHECK(AccessOf("/spine.v1.StorageService/BackupDatabase") == ACCESS_ADMIN);
  CHECK(AccessOf("/spine.v1.EventBus/ReplayDeadLetters") == ACCESS_ADMIN);
}

TEST_CASE("the service status probe is public") {
  LinkSpineDescriptors();
  CHECK(AccessOf("/spine.v1.StatusService/GetServiceStatus") == ACCESS_PUBLIC);
}

TEST_CASE("health checks and reflection are public") {
  CHECK(AccessOf("/grpc.health.v1.Health/Check") == ACCESS_PUBLIC);
  CHECK(AccessOf("/grpc.health.v1.Health/Watch") == ACCESS_PUBLIC);
  CHECK(AccessOf("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") ==
        ACCESS_PUBLIC);
  CHECK(AccessOf("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo") == ACCESS_PUBLIC);
}

TEST_CASE("unknown and malformed methods require authentication") {
  LinkSpineDescriptors();
  const char* method = GENERATE("/nope.X/Y", "", "abc", "/", "//", "/spine.v1.AuthService",
                                "spine.v1.AuthService/Login", "/spine.v1.AuthService/login",
                                "/spine.v1.AuthService/Login/", "/spine.v1.AuthService.Login",
                                "/grpc.health.v1.Health", "/spine.v1.AuthService/Nope");
  INFO(method);
  CHECK(AccessOf(method) == ACCESS_AUTHENTICATED);
}

}  // namespace
}  // namespace spine::rpc
