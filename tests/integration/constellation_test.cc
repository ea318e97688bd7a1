// Starts the five real binaries on free loopback ports and checks the frame they share:
// health, readiness, authentication on every RPC, and clean shutdown.
#include "tests/integration/constellation.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "nlohmann/json.hpp"
#include "spine/v1/common.grpc.pb.h"
#include "spine/v1/plugins.grpc.pb.h"
#include "spine/v1/storage.grpc.pb.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tests/support/http_client.h"

namespace spine::testing {
namespace {

// A token for user 7 ("alice"), or for the service `subject` when the role is "service".
std::string SignToken(const Constellation& stack, const std::string& role,
                      const std::string& subject = "7") {
  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  JwtSigner signer(std::move(*key), RealClock::Instance());
  auto token = signer.Sign(subject, "alice", role);
  REQUIRE(token.ok());
  return *token;
}

grpc::Status ListPlugins(const Constellation& stack, const std::string& authorization) {
  auto stub =
      spine::v1::PluginService::NewStub(rpc::MakeChannel(stack.GrpcAddress("plugins"), 4 << 20));
  auto context = rpc::MakeClientContext(absl::Seconds(5));
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  spine::v1::ListPluginsRequest request;
  spine::v1::ListPluginsResponse response;
  return stub->ListPlugins(context.get(), request, &response);
}

grpc::Status ListThoughts(const Constellation& stack, const std::string& authorization) {
  auto stub =
      spine::v1::ThoughtService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  auto context = rpc::MakeClientContext(absl::Seconds(5));
  if (!authorization.empty()) context->AddMetadata("authorization", authorization);
  spine::v1::ListThoughtsRequest request;
  spine::v1::ListThoughtsResponse response;
  return stub->ListThoughts(context.get(), request, &response);
}

void RequireAllHealthy(Constellation& stack) {
  for (const char* service : Constellation::kServices) {
    INFO(service << " log:\n" << stack.Log(service));
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(15)));
  }
}

}  // namespace

TEST_CASE("the five services start and answer health, readiness and the status probe") {
  Constellation stack;
  RequireAllHealthy(stack);

  HttpResult healthz = HttpRequestTo(stack.http_port(), "GET", "/healthz");
  CHECK(healthz.status == 200);
  CHECK(!healthz.headers["x-request-id"].empty());
  CHECK(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(5)) == 200);

  for (const char* service : Constellation::kServices) {
    auto stub =
        spine::v1::StatusService::NewStub(rpc::MakeChannel(stack.GrpcAddress(service), 4 << 20));
    auto context = rpc::MakeClientContext(absl::Seconds(5));
    spine::v1::ServiceStatus status;
    const grpc::Status rpc_status = stub->GetServiceStatus(context.get(), {}, &status);
    INFO(service << ": " << rpc_status.error_message());
    REQUIRE(rpc_status.ok());
    CHECK(status.service() == service);
    CHECK(status.up());
    CHECK(status.rss_mb() > 0);
    CHECK(status.heap_used_mb() > 0);
  }
}

TEST_CASE("every non-public RPC needs a valid token and unimplemented ones say which") {
  Constellation stack;
  RequireAllHealthy(stack);

  // Implemented RPCs of two services (an unimplemented one is checked with EventBus below).
  CHECK(ListThoughts(stack, "").error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ListPlugins(stack, "").error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ListPlugins(stack, "Bearer not.a.jwt").error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ListThoughts(stack, "Bearer not.a.jwt").error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(ListThoughts(stack, "Basic YWxpY2U6cHc=").error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);

  // A token signed by a key the services do not know.
  auto other_keys = GenerateEd25519PemPair();
  REQUIRE(other_keys.ok());
  auto other_key = Ed25519PrivateKey::FromPem(other_keys->first);
  REQUIRE(other_key.ok());
  JwtSigner forger(std::move(*other_key), RealClock::Instance());
  CHECK(ListThoughts(stack, "Bearer " + *forger.Sign("7", "mallory", "admin")).error_code() ==
        grpc::StatusCode::UNAUTHENTICATED);

  CHECK(ListThoughts(stack, "Bearer " + SignToken(stack, "user")).ok());
  const grpc::Status with_token = ListPlugins(stack, "Bearer " + SignToken(stack, "user"));
  CHECK(with_token.ok());

  // Admin-only methods refuse a plain user before anything else.
  auto storage =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  auto context = rpc::MakeClientContext(absl::Seconds(5));
  context->AddMetadata("authorization", "Bearer " + SignToken(stack, "user"));
  spine::v1::BackupDatabaseResponse backup;
  CHECK(storage->BackupDatabase(context.get(), {}, &backup).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);

  // Internal RPCs take only service tokens: not a user's, not even an admin's.
  for (const char* role : {"user", "admin"}) {
    auto internal = rpc::MakeClientContext(absl::Seconds(5));
    internal->AddMetadata("authorization", "Bearer " + SignToken(stack, role));
    spine::v1::UserRecord record;
    INFO(role);
    CHECK(storage->GetUserRecord(internal.get(), {}, &record).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  auto as_service = rpc::MakeClientContext(absl::Seconds(5));
  as_service->AddMetadata("authorization", "Bearer " + SignToken(stack, "service", "gateway"));
  spine::v1::UserRecord record;
  CHECK(storage->GetUserRecord(as_service.get(), {}, &record).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);  // past auth: the empty key is the complaint

  // The event bus in spine-tasks is internal too: a user's token is refused, a service's passes.
  auto bus = spine::v1::EventBus::NewStub(rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20));
  for (const char* role : {"user", "service"}) {
    auto context = rpc::MakeClientContext(absl::Seconds(5));
    context->AddMetadata("authorization", "Bearer " + SignToken(stack, role, "tasks"));
    spine::v1::GetQueueStatsResponse stats;
    const grpc::Status status = bus->GetQueueStats(context.get(), {}, &stats);
    INFO(role);
    if (std::string(role) == "user") {
      CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    } else {
      CHECK(status.ok());
    }
  }
  // ... and a service token is refused on user-facing RPCs.
  CHECK(ListThoughts(stack, "Bearer " + SignToken(stack, "service")).error_code() ==
        grpc::StatusCode::PERMISSION_DENIED);
}

TEST_CASE("the gateway answers unknown paths in the error shape and echoes request ids") {
  Constellation stack;
  RequireAllHealthy(stack);

  HttpResult missing =
      HttpRequestTo(stack.http_port(), "GET", "/nope", {{"X-Request-Id", "client-id-123"}});
  CHECK(missing.status == 404);
  CHECK(missing.headers["x-request-id"] == "client-id-123");
  const auto body = nlohmann::json::parse(missing.body);
  CHECK(body["error"]["code"] == 404);
  CHECK(body["error"]["status"] == "NOT_FOUND");
  CHECK(body["error"]["details"][0]["reason"] == "ROUTE_NOT_FOUND");

  HttpResult bad_id =
      HttpRequestTo(stack.http_port(), "GET", "/healthz", {{"X-Request-Id", "bad id with spaces"}});
  CHECK(bad_id.status == 200);
  CHECK(bad_id.headers["x-request-id"] != "bad id with spaces");
  CHECK(bad_id.headers["x-request-id"].size() == 32);

  HttpResult head = HttpRequestTo(stack.http_port(), "HEAD", "/healthz");
  CHECK(head.status == 200);
  CHECK(head.body.empty());
  CHECK(head.headers["content-length"] != "0");

  HttpResult post = HttpRequestTo(stack.http_port(), "POST", "/healthz");
  CHECK(post.status == 405);
  CHECK(post.headers["allow"] == "GET, HEAD");
  CHECK(HttpRequestTo(stack.http_port(), "GET", "/healthz",
                      {{"X-Padding", std::string(20 << 10, 'p')}})
            .status == 431);
  CHECK(HttpRequestTo(stack.http_port(), "POST", "/nope", {{"Content-Type", "application/json"}},
                      std::string(2 << 20, 'x'))
            .status == 413);
}

TEST_CASE("a dead service turns readyz 503 naming it, and SIGTERM stops the rest cleanly") {
  Constellation stack;
  RequireAllHealthy(stack);
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(5)) == 200);

  stack.process("llm").Signal(SIGKILL);
  REQUIRE(stack.process("llm").WaitExit(absl::Seconds(5)).has_value());
  // Within 2 s of the kill, readiness names the dead service.
  REQUIRE(stack.WaitForHttpStatus("/readyz", 503, absl::Seconds(2)) == 503);
  HttpResult readyz = HttpRequestTo(stack.http_port(), "GET", "/readyz");
  REQUIRE(readyz.status == 503);
  const auto body = nlohmann::json::parse(readyz.body);
  CHECK(body["notReady"] == nlohmann::json::array({"llm"}));
  CHECK_THAT(body["error"]["message"].get<std::string>(), Catch::Contains("llm"));

  for (const char* service : {"storage", "plugins", "tasks", "gateway"}) {
    stack.process(service).Signal(SIGTERM);
  }
  for (const char* service : {"storage", "plugins", "tasks", "gateway"}) {
    INFO(service << " log:\n" << stack.Log(service));
    const std::optional<int> code = stack.process(service).WaitExit(absl::Seconds(5));
    REQUIRE(code.has_value());
    CHECK(*code == 0);
  }
}

TEST_CASE("a service refuses to start outside dev mode without its secrets, naming them") {
  TempDir dir;
  ChildProcess gateway(std::string(SPINE_BINARY_DIR) + "/services/gateway/spine-gateway",
                       {{"SPINE_DEV_MODE", "0"},
                        {"SPINE_ENV_FILE", dir.WriteFile("e.env", "")},
                        {"SPINE_HTTP_THREADS", "zero"}},
                       dir.path() + "/gateway.log");
  const std::optional<int> code = gateway.WaitExit(absl::Seconds(10));
  REQUIRE(code.has_value());
  CHECK(*code == 2);
  std::ifstream in(dir.path() + "/gateway.log");
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK_THAT(log, Catch::Contains("SPINE_JWT_PUBLIC_KEY_FILE"));
  CHECK_THAT(log, Catch::Contains("SPINE_JWT_PRIVATE_KEY_FILE"));
  CHECK_THAT(log, Catch::Contains("SPINE_ADMIN_PASSWORD"));
  CHECK_THAT(log, Catch::Contains("SPINE_HTTP_THREADS=zero"));
}

}  // namespace spine::testing
