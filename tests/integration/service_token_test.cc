// `spine-gateway mint-service-token`, as the launcher runs it: the token it prints opens
// storage's internal RPCs and nothing public.
#include <catch2/catch.hpp>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/rpc/channel.h"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/child_process.h"

namespace spine::testing {
namespace {

// Runs `command` through the shell; its exit status and stdout.
std::pair<int, std::string> RunCommand(const std::string& command) {
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string MintCommand(const std::string& key_file, const std::string& args) {
  return absl::StrCat("env -i SPINE_ENV_FILE=/dev/null SPINE_JWT_PRIVATE_KEY_FILE=", key_file, " ",
                      SPINE_BINARY_DIR, "/services/gateway/spine-gateway mint-service-token ", args,
                      " 2>/dev/null");
}

}  // namespace

TEST_CASE("a minted service token opens internal RPCs and no public one") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  TempDir dir;
  const std::string key_file = dir.WriteFile("jwt_private.pem", stack.private_key_pem(), 0600);

  auto [status, out] = RunCommand(MintCommand(key_file, "tasks"));
  REQUIRE(status == 0);
  const std::string token(absl::StripTrailingAsciiWhitespace(out));
  REQUIRE(!token.empty());

  auto channel = rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20);
  {
    auto stub = spine::v1::StorageService::NewStub(channel);
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", "Bearer " + token);
    spine::v1::ListRunRecordsRequest request;
    request.set_user_id(1);
    spine::v1::ListRunRecordsResponse response;
    CHECK(stub->ListRunRecords(context.get(), request, &response).ok());
  }
  {
    auto stub = spine::v1::ThoughtService::NewStub(channel);
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", "Bearer " + token);
    spine::v1::ListThoughtsRequest request;
    spine::v1::ListThoughtsResponse response;
    CHECK(stub->ListThoughts(context.get(), request, &response).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_CASE("mint-service-token refuses unknown services, bad lifetimes and missing keys") {
  TempDir dir;
  auto pems = GenerateEd25519PemPair();
  REQUIRE(pems.ok());
  const std::string key_file = dir.WriteFile("jwt_private.pem", pems->first, 0600);
  CHECK(RunCommand(MintCommand(key_file, "root")).first == 2);
  CHECK(RunCommand(MintCommand(key_file, "llm 0")).first == 2);
  CHECK(RunCommand(MintCommand(key_file, "llm 9999999")).first == 2);
  CHECK(RunCommand(MintCommand(key_file, "")).first == 2);
  CHECK(RunCommand(MintCommand(dir.path() + "/missing.pem", "llm")).first == 2);
  CHECK(RunCommand(MintCommand(key_file, "llm 1")).first == 0);
}

}  // namespace spine::testing
