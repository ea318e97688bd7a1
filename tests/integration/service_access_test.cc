// Least privilege between services (issue 13), through the real binaries: the table of every
// internal RPC against every service token, generated from the protos' declarations, and the
// attacks an outside test performed with the token of spine-plugins (the service that runs
// untrusted code): minting a refresh token for the admin, forging step results, jobs and
// advertisements on the event bus, and writing audit events in other names.
#include "libs/rpc/service_access.h"

#include <openssl/sha.h>

#include <array>
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/method_access.h"
#include "nlohmann/json.hpp"
#include "spine/v1/storage.grpc.pb.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string ServiceToken(const Constellation& stack, const std::string& service) {
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return *signer.Sign(service, "spine-" + service, "service");
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token) {
  auto context = rpc::MakeClientContext(absl::Seconds(5));
  context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

// The binary that serves each internal gRPC service. A service missing here fails the table
// rather than being skipped.
std::string HostOf(const google::protobuf::ServiceDescriptor& service) {
  if (service.full_name() == "spine.v1.StorageService") return "storage";
  if (service.full_name() == "spine.v1.EventBus") return "tasks";
  return "";
}

// Calls `method` with an empty request (a unary call, or a stream that is half-closed at once)
// and returns how it ended.
grpc::Status CallEmpty(const std::shared_ptr<grpc::Channel>& channel,
                       const google::protobuf::MethodDescriptor& method, const std::string& token) {
  grpc::GenericStub stub(channel);
  const std::string path = absl::StrCat("/", method.service()->full_name(), "/", method.name());
  auto context = Context(token);
  if (!method.client_streaming() && !method.server_streaming()) {
    grpc::ByteBuffer request(nullptr, 0);
    grpc::ByteBuffer response;
    grpc::Status status;
    absl::Notification done;
    stub.UnaryCall(context.get(), path, grpc::StubOptions(), &request, &response,
                   [&](grpc::Status s) {
                     status = std::move(s);
                     done.Notify();
                   });
    done.WaitForNotification();
    return status;
  }
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(context.get(), path, &queue);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  REQUIRE(queue.Next(&tag, &ok));
  call->WritesDone(reinterpret_cast<void*>(2));
  REQUIRE(queue.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(3));
  REQUIRE(queue.Next(&tag, &ok));
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

// Refused by the allow-list (not by the request's content).
bool RefusedByAllowList(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::PERMISSION_DENIED &&
         absl::StrContains(status.error_message(), "may not call");
}

std::string Sha256(const std::string& text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return {reinterpret_cast<const char*>(digest.data()), digest.size()};
}

HttpResult Http(const Constellation& stack, const std::string& method, const std::string& path,
                const std::string& bearer, const Json& body = nullptr) {
  std::map<std::string, std::string> headers;
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  if (!body.is_null()) headers.emplace("Content-Type", "application/json");
  return HttpRequestTo(stack.http_port(), method, path, headers, body.is_null() ? "" : body.dump());
}

std::string UserToken(const Constellation& stack, const std::string& user) {
  EnsureUserIds(stack, user);  // the gateway refuses tokens of users that do not exist
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return *signer.Sign(user, "user" + user, "user");
}

}  // namespace

TEST_CASE("every internal RPC admits exactly the service tokens its protos declare") {
  Constellation stack({"storage", "tasks"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("tasks", absl::Seconds(15)));
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  int allowed = 0;
  int refused = 0;
  for (const google::protobuf::FileDescriptor* file : rpc::SpineApiFiles()) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor& service = *file->service(s);
      for (int m = 0; m < service.method_count(); ++m) {
        const google::protobuf::MethodDescriptor& method = *service.method(m);
        const std::string path = absl::StrCat("/", service.full_name(), "/", method.name());
        if (rpc::AccessOf(path) != spine::api::ACCESS_INTERNAL) continue;
        const std::string host = HostOf(service);
        INFO(path);
        REQUIRE_FALSE(host.empty());
        auto& channel = channels[host];
        if (!channel) channel = rpc::MakeChannel(stack.GrpcAddress(host), 4 << 20);
        const std::vector<spine::api::Service> callers = rpc::CallersOf(method);
        for (const spine::api::Service caller : rpc::AllServices()) {
          const std::string subject = rpc::SubjectOf(caller);
          const bool declared = absl::c_linear_search(callers, caller);
          const grpc::Status status = CallEmpty(channel, method, ServiceToken(stack, subject));
          INFO(subject << " -> " << status.error_code() << " " << status.error_message());
          if (declared) {
            CHECK_FALSE(RefusedByAllowList(status));
            CHECK(status.error_code() != grpc::StatusCode::UNAUTHENTICATED);
            ++allowed;
          } else {
            CHECK(RefusedByAllowList(status));
            ++refused;
          }
        }
      }
    }
  }
  // 32 internal RPCs of StorageService and 4 of EventBus, five tokens each.
  CHECK(allowed + refused == 36 * 5);
  CHECK(allowed >= 36);
  CHECK(refused >= 100);
}

TEST_CASE("spine-plugins' token is refused the gateway's, llm's and tasks' storage RPCs") {
  // Written out, not read from the declaration: a declaration loosened by mistake fails here.
  Constellation stack({"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  auto channel = rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20);
  const std::string plugins = ServiceToken(stack, "plugins");
  const std::vector<std::string> forbidden = {"CreateUserRecord",
                                              "GetUserRecord",
                                              "ListUserRecords",
                                              "CountUsers",
                                              "UpdateUserRecord",
                                              "DeleteUserRecord",
                                              "CreateApiKeyRecord",
                                              "GetApiKeyRecord",
                                              "ListApiKeyRecords",
                                              "RevokeApiKeyRecord",
                                              "TouchApiKeyRecord",
                                              "RecordLoginFailure",
                                              "GetLoginLock",
                                              "ResetLoginFailures",
                                              "CreateRefreshToken",
                                              "RotateRefreshToken",
                                              "RevokeRefreshFamily",
                                              "CreateConversationRecord",
                                              "GetConversationRecord",
                                              "ListConversationRecords",
                                              "AppendConversationMessages",
                                              "DeleteConversationRecord",
                                              "CreatePipelineRecord",
                                              "GetPipelineRecord",
                                              "ListPipelineRecords",
                                              "DeletePipelineRecord",
                                              "CreateRunRecord",
                                              "UpdateRunRecord",
                                              "GetRunRecord",
                                              "ListRunRecords"};
  const google::protobuf::ServiceDescriptor* storage =
      spine::v1::UserRecord::descriptor()->file()->FindServiceByName("StorageService");
  REQUIRE(storage != nullptr);
  for (const std::string& name : forbidden) {
    const google::protobuf::MethodDescriptor* method = storage->FindMethodByName(name);
    REQUIRE(method != nullptr);
    INFO(name);
    CHECK(RefusedByAllowList(CallEmpty(channel, *method, plugins)));
  }
  // llm may not touch users either; tasks may not touch conversations.
  CHECK(RefusedByAllowList(CallEmpty(channel, *storage->FindMethodByName("ListUserRecords"),
                                     ServiceToken(stack, "llm"))));
  CHECK(RefusedByAllowList(CallEmpty(channel, *storage->FindMethodByName("GetConversationRecord"),
                                     ServiceToken(stack, "tasks"))));
}

TEST_CASE("spine-plugins' token cannot mint a refresh token and become admin") {
  Constellation stack({"storage", "gateway"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  // The first admin (user 1) exists once it can log in.
  const Json login = {{"username", Constellation::kAdminUsername},
                      {"password", Constellation::kAdminPassword}};
  REQUIRE(testing::PollUntil(
      [&] { return Http(stack, "POST", "/api/auth/login", "", login).status == 200; },
      absl::Seconds(15), absl::Milliseconds(100)));
  auto storage =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  // The admin is user 1; R has the shape of a real refresh token (32 bytes, base64url).
  auto attempt = [&](const std::string& service, const std::string& token) {
    spine::v1::CreateRefreshTokenRequest request;
    request.set_user_id(1);
    request.set_token_hash(Sha256(token));
    *request.mutable_expire_time() = google::protobuf::util::TimeUtil::SecondsToTimestamp(
        absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
    spine::v1::RefreshTokenRecord record;
    return storage->CreateRefreshToken(Context(ServiceToken(stack, service)).get(), request,
                                       &record);
  };
  const std::string stolen(43, 'A');
  const grpc::Status refused = attempt("plugins", stolen);
  CHECK(refused.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  const HttpResult refresh =
      Http(stack, "POST", "/api/auth/refresh", "", {{"refreshToken", stolen}});
  CHECK(refresh.status == 401);

  // The same steps with the gateway's own token do work: the allow-list is what stops them.
  const std::string minted = std::string(42, 'B') + "A";  // the last character's low bits 0
  REQUIRE(attempt("gateway", minted).ok());
  const HttpResult admin = Http(stack, "POST", "/api/auth/refresh", "", {{"refreshToken", minted}});
  CHECK(admin.status == 200);
}

TEST_CASE("spine-plugins' token may append only its own acts to the audit log") {
  Constellation stack({"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  auto storage =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  const std::string plugins = ServiceToken(stack, "plugins");
  auto append = [&](const std::string& actor, const std::string& action) {
    spine::v1::AppendAuditEventRequest request;
    request.mutable_event()->set_actor(actor);
    request.mutable_event()->set_action(action);
    request.mutable_event()->set_target("plugin:hello-world");
    request.mutable_event()->set_outcome("ok");
    spine::v1::AuditEvent stored;
    grpc::Status status = storage->AppendAuditEvent(Context(plugins).get(), request, &stored);
    if (status.ok()) CHECK(stored.service() == "plugins");
    return status;
  };
  CHECK(append("5", "plugins.invoke").ok());
  CHECK(append("plugins", "plugins.self_test").ok());
  // Another service's acts, or another service as the actor.
  CHECK(append("1", "auth.login").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(append("1", "storage.backup").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(append("gateway", "plugins.invoke").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(append("admin", "plugins.invoke").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(append("5", "plugins").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  // In a batch, the bad event is named.
  spine::v1::AppendAuditEventsRequest batch;
  for (const char* action : {"plugins.invoke", "llm.generate"}) {
    spine::v1::AuditEvent* event = batch.add_events();
    event->set_actor("5");
    event->set_action(action);
    event->set_target("x");
    event->set_outcome("ok");
  }
  spine::v1::AppendAuditEventsResponse appended;
  const grpc::Status refused = storage->AppendAuditEvents(Context(plugins).get(), batch, &appended);
  CHECK(refused.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(absl::StrContains(refused.error_message(), "events[1]"));
}

TEST_CASE("spine-plugins' token cannot read LLM jobs, forge jobs, results or advertisements") {
  Constellation stack;
  for (const char* service : Constellation::kServices) {
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
  auto bus = spine::v1::EventBus::NewStub(rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20));
  const std::string plugins = ServiceToken(stack, "plugins");
  auto publish = [&](const std::string& token, const std::string& queue, const std::string& payload,
                     const std::string& reply_to = "") {
    spine::v1::PublishRequest request;
    request.set_queue(queue);
    spine::v1::BusMessage* message = request.add_messages();
    message->set_message_id(absl::StrCat("attack-", absl::ToUnixNanos(absl::Now())));
    message->set_payload(payload);
    message->set_reply_to_delivery_id(reply_to);
    message->set_publisher("llm");  // ignored: the broker says who published
    spine::v1::PublishResponse response;
    return bus->Publish(Context(token).get(), request, &response);
  };

  SECTION("subscribing to another kind's jobs is refused") {
    for (const char* queue : {"steps.llm", "steps.llm.cancel", "steps.results"}) {
      auto context = Context(plugins);
      auto stream = bus->Subscribe(context.get());
      spine::v1::SubscribeRequest start;
      start.mutable_start()->set_queue(queue);
      start.mutable_start()->set_credits(1);
      stream->Write(start);
      stream->WritesDone();
      spine::v1::Delivery delivery;
      CHECK_FALSE(stream->Read(&delivery));
      const grpc::Status status = stream->Finish();
      INFO(queue << ": " << status.error_message());
      CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
  }

  SECTION("a step job in another user's name is refused") {
    spine::v1::StepJob job;
    job.set_job_id("999/0/1");
    job.set_run_id(999);
    job.set_user_id(1);
    job.mutable_llm()->set_model("stub");
    job.mutable_llm()->set_prompt("as the admin");
    CHECK(publish(plugins, "steps.llm", job.SerializeAsString()).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
    CHECK(publish(plugins, "steps.plugin", job.SerializeAsString()).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }

  SECTION("a forged result does not complete another user's run") {
    const Json definition = Json::parse(R"({"schemaVersion": 1, "steps": [
      {"id": "draft", "llm": {"model": "stub-slow", "prompt": "Say {{input.text}}"}}]})");
    const std::string owner = UserToken(stack, "7");
    HttpResult started;
    // Until spine-tasks has heard spine-llm advertise stub-slow.
    REQUIRE(testing::PollUntil(
        [&] {
          started = Http(stack, "POST", "/api/runs", owner,
                         {{"definition", definition}, {"input", {{"text", "hello"}}}});
          return started.status == 202;
        },
        absl::Seconds(20), absl::Milliseconds(100)));
    const std::string run_id = Json::parse(started.body)["id"];
    spine::v1::StepResult forged;
    forged.set_job_id(absl::StrCat(run_id, "/0/1"));
    forged.set_run_id(std::stoll(run_id));
    forged.set_step_index(0);
    forged.set_attempt(1);
    (*forged.mutable_output()->mutable_struct_value()->mutable_fields())["text"].set_string_value(
        "pwned");
    // Not a reply; a reply to a delivery nobody holds; a reply to one held by spine-llm.
    CHECK(publish(plugins, "steps.results", forged.SerializeAsString()).error_code() ==
          grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(publish(plugins, "steps.results", forged.SerializeAsString(), "no-such-delivery")
              .error_code() == grpc::StatusCode::FAILED_PRECONDITION);
    // The run ends with the model's answer, not the forged one.
    Json run;
    testing::PollUntil(
        [&] {
          run = Json::parse(Http(stack, "GET", "/api/runs/" + run_id, owner).body);
          return run["state"] != "RUNNING" && run["state"] != "QUEUED";
        },
        absl::Seconds(30), absl::Milliseconds(100));
    CHECK(run["state"] == "SUCCEEDED");
    CHECK(run.dump().find("pwned") == std::string::npos);
  }

  SECTION("an advertisement of a kind the publisher does not execute is ignored") {
    auto advertise = [&](const std::string& token, const std::string& executor,
                         const std::string& model) {
      spine::v1::ExecutorAdvertisement ad;
      ad.set_executor(executor);
      ad.set_kind("llm");
      ad.add_names(model);
      ad.set_ttl_ms(60000);
      return publish(token, "executors.advertise", ad.SerializeAsString());
    };
    auto create = [&](const std::string& model) {
      const Json definition = {
          {"schemaVersion", 1},
          {"steps", {{{"id", "a"}, {"llm", {{"model", model}, {"prompt", "hi"}}}}}}};
      return Http(stack, "POST", "/api/pipelines", UserToken(stack, "7"),
                  {{"name", "p"}, {"definition", definition}});
    };
    // Published (the queue takes advertisements from spine-plugins), but spine-tasks believes an
    // LLM advertisement only from spine-llm.
    REQUIRE(advertise(plugins, "plugins@attacker", "evil-model").ok());
    // A genuine one after it, through the same ordered consumer: once it is known, the forged
    // one has been read too.
    REQUIRE(advertise(ServiceToken(stack, "llm"), "llm@control", "control-model").ok());
    // Every 200 ms: well under the per-IP rate limit.
    REQUIRE(testing::PollUntil([&] { return create("control-model").status == 201; },
                               absl::Seconds(10), absl::Milliseconds(200)));
    const HttpResult evil = create("evil-model");
    CHECK(evil.status == 400);
    CHECK(absl::StrContains(evil.body, "UNKNOWN_MODEL"));
  }
}

}  // namespace spine::testing
