// Red-team attacks on least privilege between services (issue 13), through the real binaries,
// by an attacker holding a stolen service token: spine-plugins' (the service that runs untrusted
// code) or spine-llm's, written by a reviewer told to break the controls. Two of them (advertising
// under another service's executor name, audit actors in disguise) broke the first version and
// are fixed; the others were stopped from the start. They cover what service_access_test.cc does
// not.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "libs/rpc/method_access.h"
#include "libs/rpc/service_access.h"
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

std::string Sign(const Constellation& stack, const std::string& subject, const std::string& role) {
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return *signer.Sign(subject, "redteam-" + subject, role);
}
std::string ServiceToken(const Constellation& stack, const std::string& service) {
  return Sign(stack, service, "service");
}
std::string UserToken(const Constellation& stack, const std::string& user) {
  EnsureUserIds(stack, user);  // the gateway refuses tokens of users that do not exist
  return Sign(stack, user, "user");
}

std::unique_ptr<grpc::ClientContext> Context(const std::string& token,
                                             absl::Duration deadline = absl::Seconds(5)) {
  auto context = rpc::MakeClientContext(deadline);
  context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

HttpResult Http(const Constellation& stack, const std::string& method, const std::string& path,
                const std::string& bearer, const Json& body = nullptr) {
  std::map<std::string, std::string> headers;
  if (!bearer.empty()) headers.emplace("Authorization", "Bearer " + bearer);
  if (!body.is_null()) headers.emplace("Content-Type", "application/json");
  return HttpRequestTo(stack.http_port(), method, path, headers, body.is_null() ? "" : body.dump());
}

// A unary call to any gRPC path (well-formed or not) with `request` as its body.
grpc::Status CallPath(const std::shared_ptr<grpc::Channel>& channel, const std::string& path,
                      const std::string& token, const std::string& request_bytes) {
  grpc::GenericStub stub(channel);
  auto context = Context(token);
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
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

// Calls `method` with an empty request (a unary call, or a stream half-closed at once).
grpc::Status CallEmpty(const std::shared_ptr<grpc::Channel>& channel,
                       const google::protobuf::MethodDescriptor& method, const std::string& token) {
  const std::string path = absl::StrCat("/", method.service()->full_name(), "/", method.name());
  if (!method.client_streaming() && !method.server_streaming()) {
    return CallPath(channel, path, token, "");
  }
  grpc::GenericStub stub(channel);
  auto context = Context(token);
  grpc::CompletionQueue queue;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(context.get(), path, &queue);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  REQUIRE(queue.Next(&tag, &ok));
  if (!method.client_streaming()) {
    // A server-streaming call takes exactly one request: without it gRPC answers on its own.
    grpc::ByteBuffer empty(nullptr, 0);
    call->Write(empty, reinterpret_cast<void*>(4));
    REQUIRE(queue.Next(&tag, &ok));
  }
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

// The binary that serves each gRPC service of the protos (StatusService: every one, not listed).
std::string HostOf(const google::protobuf::ServiceDescriptor& service) {
  static const std::map<std::string, std::string> hosts = {
      {"spine.v1.AuthService", "gateway"},     {"spine.v1.ThoughtService", "storage"},
      {"spine.v1.StorageService", "storage"},  {"spine.v1.LlmService", "llm"},
      {"spine.v1.ConversationService", "llm"}, {"spine.v1.PluginService", "plugins"},
      {"spine.v1.PipelineService", "tasks"},   {"spine.v1.RunService", "tasks"},
      {"spine.v1.EventBus", "tasks"}};
  auto it = hosts.find(service.full_name());
  return it == hosts.end() ? "" : it->second;
}

grpc::Status Publish(spine::v1::EventBus::Stub& bus, const std::string& token,
                     const std::string& queue, const std::string& payload,
                     const std::string& reply_to = "") {
  static int counter = 0;
  spine::v1::PublishRequest request;
  request.set_queue(queue);
  spine::v1::BusMessage* message = request.add_messages();
  message->set_message_id(absl::StrCat("redteam-", absl::ToUnixNanos(absl::Now()), "-", ++counter));
  message->set_payload(payload);
  message->set_reply_to_delivery_id(reply_to);
  spine::v1::PublishResponse response;
  return bus.Publish(Context(token).get(), request, &response);
}

std::string Advertisement(const std::string& executor, const std::string& kind,
                          const std::vector<std::string>& names, int ttl_ms) {
  spine::v1::ExecutorAdvertisement ad;
  ad.set_executor(executor);
  ad.set_kind(kind);
  for (const std::string& name : names) ad.add_names(name);
  ad.set_ttl_ms(ttl_ms);
  return ad.SerializeAsString();
}

// Creates a pipeline with one LLM step on `model` for user 7; the gateway answers 400
// UNKNOWN_MODEL when no live executor advertises the model.
HttpResult CreateLlmPipeline(const Constellation& stack, const std::string& model) {
  static int counter = 0;
  const Json definition = {
      {"schemaVersion", 1},
      {"steps", {{{"id", "a"}, {"llm", {{"model", model}, {"prompt", "hi"}}}}}}};
  return Http(stack, "POST", "/api/pipelines", UserToken(stack, "7"),
              {{"name", absl::StrCat("redteam-", ++counter)}, {"definition", definition}});
}

// Every 50 ms: the polls go through the gateway, whose per-IP rate limit a tighter loop would
// trip.
bool PollGateway(const std::function<bool()>& done, absl::Duration timeout) {
  return spine::testing::PollUntil(done, timeout, absl::Milliseconds(50));
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Was HOLE 1 (fixed: ExecutorRegistry::Advertise takes the publisher). The advertisement check in
// spine-tasks (main.cc) only compares the publisher with the executor service of the
// advertisement's *kind*; the ExecutorRegistry then files the entry under the advertisement's
// free-text `executor` name, replacing whatever was filed there. So spine-plugins may advertise
// kind "plugin" under spine-llm's executor name ("llm@<addr>:<pid>", guessable: the address is in
// every service's config, and in the compose deployment the pid is a small fixed number; a batch of
// 1000 advertisements covers a pid range in one Publish) and spine-llm's entry — every model — is
// gone: no LLM pipeline or run can be created until spine-llm advertises again, which the attacker
// outpaces by repeating. spine-llm's token can do the same to spine-plugins' entry.
TEST_CASE("spine-plugins' token cannot erase spine-llm's models by advertising under its name",
          "[redteam]") {
  Constellation stack({"storage", "llm", "tasks", "gateway"});
  for (const char* service : {"storage", "llm", "tasks", "gateway"}) {
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
  // spine-tasks has heard spine-llm: its models can be used.
  REQUIRE(PollGateway([&] { return CreateLlmPipeline(stack, "stub").status == 201; },
                      absl::Seconds(20)));

  auto bus = spine::v1::EventBus::NewStub(rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20));
  const std::string llm_executor =
      absl::StrCat("llm@", stack.GrpcAddress("llm"), ":", stack.process("llm").pid());
  // Kind "plugin" from spine-plugins passes the kind check; the name is spine-llm's.
  REQUIRE(Publish(*bus, ServiceToken(stack, "plugins"), "executors.advertise",
                  Advertisement(llm_executor, "plugin", {"nothing"}, 600000))
              .ok());
  // A genuine advertisement after it, through the same ordered consumer: once it is known, the
  // forged one has been read too.
  REQUIRE(Publish(*bus, ServiceToken(stack, "llm"), "executors.advertise",
                  Advertisement("llm@redteam-control", "llm", {"control-model"}, 60000))
              .ok());
  REQUIRE(PollGateway([&] { return CreateLlmPipeline(stack, "control-model").status == 201; },
                      absl::Seconds(10)));

  const HttpResult stub = CreateLlmPipeline(stack, "stub");
  INFO("after the forged advertisement: " << stub.status << " " << stub.body);
  CHECK(stub.status == 201);
}

// ---------------------------------------------------------------------------------------------
// Was HOLE 2 (fixed: only the canonical decimal spelling is a user id). storage's audit rule
// accepts as "a user id" anything absl::SimpleAtoi parses to a positive number — "007", "+7", " 7",
// "7\n" — and stores the text verbatim. Such an event names user 7 yet escapes ListAuditEvents'
// exact actor filter (an admin reviewing user 7 never sees it), and whitespace lets a service put
// line breaks into the actor column.
TEST_CASE("spine-plugins' token cannot record audit events for a user under a disguised actor",
          "[redteam]") {
  Constellation stack({"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  auto storage =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  const std::string plugins = ServiceToken(stack, "plugins");
  int accepted = 0;
  for (const std::string actor : {"007", "+7", " 7", "7\n"}) {
    spine::v1::AppendAuditEventRequest request;
    request.mutable_event()->set_actor(actor);
    request.mutable_event()->set_action("plugins.invoke");
    request.mutable_event()->set_target("redteam:disguised");
    request.mutable_event()->set_outcome("ok");
    spine::v1::AuditEvent stored;
    const grpc::Status status = storage->AppendAuditEvent(Context(plugins).get(), request, &stored);
    INFO("actor '" << actor << "': " << status.error_code() << " " << status.error_message()
                   << " stored as '" << stored.actor() << "'");
    // Either refused, or stored under the user's id as everything else spells it.
    CHECK((!status.ok() || stored.actor() == "7"));
    if (status.ok()) ++accepted;
  }
  // Whatever was accepted in user 7's name is found when an admin looks for user 7.
  spine::v1::ListAuditEventsRequest list;
  list.set_actor("7");
  list.set_page_size(100);
  spine::v1::ListAuditEventsResponse listed;
  REQUIRE(storage->ListAuditEvents(Context(Sign(stack, "1", "admin")).get(), list, &listed).ok());
  const auto found = absl::c_count_if(listed.events(), [](const spine::v1::AuditEvent& event) {
    return event.target() == "redteam:disguised";
  });
  CHECK(found == accepted);
}

// ---------------------------------------------------------------------------------------------
// Held. spine-plugins holds a genuine steps.plugin delivery (it is the only subscriber there) and
// uses it to answer another user's running LLM step: the broker binds the reply to the plugin
// job, and spine-tasks takes an LLM step's result only from spine-llm answering that job.
TEST_CASE("spine-plugins' token cannot answer an LLM step with a plugin job it holds",
          "[redteam]") {
  Constellation stack({"storage", "llm", "tasks", "gateway"});  // the attacker is spine-plugins
  for (const char* service : {"storage", "llm", "tasks", "gateway"}) {
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
  auto bus = spine::v1::EventBus::NewStub(rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20));
  const std::string plugins = ServiceToken(stack, "plugins");
  // As spine-plugins may: say what plugins it runs, and take the plugin jobs.
  REQUIRE(Publish(*bus, plugins, "executors.advertise",
                  Advertisement("plugins@redteam", "plugin", {"echo"}, 60000))
              .ok());
  auto subscription_context = Context(plugins, absl::Seconds(60));
  auto subscription = bus->Subscribe(subscription_context.get());
  spine::v1::SubscribeRequest start;
  start.mutable_start()->set_queue("steps.plugin");
  start.mutable_start()->set_credits(1);
  REQUIRE(subscription->Write(start));

  // User 8's plugin run: its job is delivered to the attacker, who keeps it.
  const Json plugin_run = Json::parse(R"({"schemaVersion": 1, "steps": [
      {"id": "p", "plugin": {"name": "echo", "input": {"x": "y"}}}]})");
  HttpResult started;
  REQUIRE(PollGateway(
      [&] {
        started = Http(stack, "POST", "/api/runs", UserToken(stack, "8"),
                       {{"definition", plugin_run}, {"input", Json::object()}});
        return started.status == 202;
      },
      absl::Seconds(10)));
  spine::v1::Delivery held;
  REQUIRE(subscription->Read(&held));
  spine::v1::StepJob plugin_job;
  REQUIRE(plugin_job.ParseFromString(held.message().payload()));
  CHECK(plugin_job.user_id() == 8);

  // User 7's LLM run, on the slow model so it is still running when the forgery arrives.
  const Json llm_run = Json::parse(R"({"schemaVersion": 1, "steps": [
      {"id": "draft", "llm": {"model": "stub-slow", "prompt": "Say {{input.text}}"}}]})");
  const std::string owner = UserToken(stack, "7");
  REQUIRE(PollGateway(
      [&] {
        started = Http(stack, "POST", "/api/runs", owner,
                       {{"definition", llm_run}, {"input", {{"text", "hello"}}}});
        return started.status == 202;
      },
      absl::Seconds(20)));
  const std::string run_id = Json::parse(started.body)["id"];
  spine::v1::StepResult forged;
  forged.set_job_id(absl::StrCat(run_id, "/0/1"));
  forged.set_run_id(std::stoll(run_id));
  forged.set_step_index(0);
  forged.set_attempt(1);
  (*forged.mutable_output()->mutable_struct_value()->mutable_fields())["text"].set_string_value(
      "pwned");
  const grpc::Status published =
      Publish(*bus, plugins, "steps.results", forged.SerializeAsString(), held.delivery_id());
  INFO("forged reply: " << published.error_code() << " " << published.error_message());

  Json run;
  PollGateway(
      [&] {
        run = Json::parse(Http(stack, "GET", "/api/runs/" + run_id, owner).body);
        return run["state"] != "RUNNING" && run["state"] != "QUEUED";
      },
      absl::Seconds(30));
  CHECK(run["state"] == "SUCCEEDED");
  CHECK(run.dump().find("pwned") == std::string::npos);
  subscription_context->TryCancel();
  subscription->Finish();
}

// ---------------------------------------------------------------------------------------------
// Held. A service token is only good on internal methods: every user-facing and admin RPC of
// every binary (AuthService on the gateway's gRPC port included, and EventBus' dead-letter
// methods) refuses spine-plugins' and spine-llm's tokens, generated from the descriptors.
TEST_CASE("service tokens are refused on every non-internal RPC of every binary", "[redteam]") {
  Constellation stack;
  for (const char* service : Constellation::kServices) {
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(20)));
  }
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
  int checked = 0;
  for (const google::protobuf::FileDescriptor* file : rpc::SpineApiFiles()) {
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor& service = *file->service(s);
      for (int m = 0; m < service.method_count(); ++m) {
        const google::protobuf::MethodDescriptor& method = *service.method(m);
        const std::string path = absl::StrCat("/", service.full_name(), "/", method.name());
        if (rpc::AccessOf(path) == spine::api::ACCESS_INTERNAL) continue;
        // The status probe is public and tells a service token nothing it would not tell
        // anyone (the gateway's /status aggregates it).
        if (service.full_name() == "spine.v1.StatusService") continue;
        const std::string host = HostOf(service);
        INFO(path);
        REQUIRE_FALSE(host.empty());
        auto& channel = channels[host];
        if (!channel) channel = rpc::MakeChannel(stack.GrpcAddress(host), 4 << 20);
        for (const char* subject : {"plugins", "llm"}) {
          const grpc::Status status = CallEmpty(channel, method, ServiceToken(stack, subject));
          INFO(subject << " -> " << status.error_code() << " " << status.error_message());
          CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
          ++checked;
        }
      }
    }
  }
  CHECK(checked >= 2 * 20);
}

// ---------------------------------------------------------------------------------------------
// Held. Method-path tricks with spine-plugins' token on gRPC: another case, a trailing or doubled
// slash, a query, or a method of another binary never reach a handler (and never create a user);
// a declared method of another service on the wrong binary is unimplemented, not served.
TEST_CASE("method path tricks do not get spine-plugins past the allow-list", "[redteam]") {
  Constellation stack({"storage", "tasks"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("tasks", absl::Seconds(15)));
  const std::string plugins = ServiceToken(stack, "plugins");
  spine::v1::CreateUserRecordRequest create;
  create.set_username("redteam");
  create.set_role("admin");
  create.set_password_hash("$argon2id$v=19$m=65536,t=3,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA");
  const std::string body = create.SerializeAsString();
  for (const char* binary : {"storage", "tasks"}) {
    auto channel = rpc::MakeChannel(stack.GrpcAddress(binary), 4 << 20);
    for (const char* path :
         {"/spine.v1.StorageService/CreateUserRecord", "/spine.v1.StorageService/CreateUserRecord/",
          "/spine.v1.storageservice/CreateUserRecord", "/spine.v1.StorageService/createuserrecord",
          "//spine.v1.StorageService/CreateUserRecord",
          "/spine.v1.StorageService//CreateUserRecord",
          "/spine.v1.StorageService/CreateUserRecord?x=1",
          "/spine.v1.StorageService/CreateUserRecord%00",
          "spine.v1.StorageService/CreateUserRecord",
          "/spine.v1.StorageService.CreateUserRecord"}) {
      const grpc::Status status = CallPath(channel, path, plugins, body);
      INFO(binary << " " << path << " -> " << status.error_code() << " " << status.error_message());
      CHECK_FALSE(status.ok());
      CHECK((status.error_code() == grpc::StatusCode::PERMISSION_DENIED ||
             status.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
             status.error_code() == grpc::StatusCode::INTERNAL));
    }
  }
  // A method storage does not serve, one spine-plugins may call (EventBus.Publish): refused as
  // not implemented there, never handled.
  auto storage = rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20);
  spine::v1::PublishRequest publish;
  publish.set_queue("executors.advertise");
  publish.add_messages()->set_message_id("x");
  const grpc::Status elsewhere =
      CallPath(storage, "/spine.v1.EventBus/Publish", plugins, publish.SerializeAsString());
  CHECK(elsewhere.error_code() == grpc::StatusCode::UNIMPLEMENTED);
  // The gateway's own token shows the user really would have been created by the exact path.
  auto stub = spine::v1::StorageService::NewStub(storage);
  spine::v1::GetUserRecordRequest get;
  get.set_username("redteam");
  spine::v1::UserRecord record;
  CHECK(stub->GetUserRecord(Context(ServiceToken(stack, "gateway")).get(), get, &record)
            .error_code() == grpc::StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------------------------------------
// Held. One PublishStream may not mix a queue spine-plugins may publish to with one it may not;
// a token that is not a Spine service's (subject with a space, another case, or a user with the
// "service" role) is refused everywhere on the bus.
TEST_CASE("spine-plugins cannot smuggle a queue through PublishStream, nor a near-service token",
          "[redteam]") {
  Constellation stack({"tasks"});
  REQUIRE(stack.WaitHealthy("tasks", absl::Seconds(15)));
  auto bus = spine::v1::EventBus::NewStub(rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20));
  {
    auto context = Context(ServiceToken(stack, "plugins"));
    spine::v1::PublishResponse response;
    auto stream = bus->PublishStream(context.get(), &response);
    spine::v1::PublishRequest allowed;
    allowed.set_queue("executors.advertise");
    spine::v1::BusMessage* ad = allowed.add_messages();
    ad->set_message_id("redteam-ad");
    ad->set_payload(Advertisement("plugins@redteam", "plugin", {"x"}, 1000));
    spine::v1::PublishRequest forbidden;
    forbidden.set_queue("steps.llm");
    spine::v1::BusMessage* job = forbidden.add_messages();
    job->set_message_id("1/0/1");
    job->set_payload("job");
    stream->Write(allowed);
    stream->Write(forbidden);
    stream->WritesDone();
    const grpc::Status status = stream->Finish();
    INFO(status.error_message());
    CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  }
  spine::v1::GetQueueStatsResponse stats;
  REQUIRE(bus->GetQueueStats(Context(ServiceToken(stack, "tasks")).get(), {}, &stats).ok());
  for (const spine::v1::QueueStats& queue : stats.queues()) {
    INFO(queue.queue());
    CHECK(queue.queue() != "steps.llm");
  }
  // Queues no entry names fall to "*", spine-tasks' alone; near-misses of a declared name too.
  for (const char* queue : {"foo", "steps.LLM", "steps.llm.", "steps.results.x", "steps.plugin2",
                            "executors.advertise.x", "bus.dead"}) {
    INFO(queue);
    CHECK(Publish(*bus, ServiceToken(stack, "plugins"), queue, "x").error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
  // Near-misses of a service's token, signed with the real key: none is a service.
  for (const auto& [subject, role] :
       std::vector<std::pair<std::string, std::string>>{{"tasks ", "service"},
                                                        {"Tasks", "service"},
                                                        {"tasks\n", "service"},
                                                        {"spine-tasks", "service"},
                                                        {"tasks", "admin"},
                                                        {"tasks", "user"},
                                                        {"5", "service"}}) {
    INFO("'" << subject << "' as " << role);
    CHECK_FALSE(Publish(*bus, Sign(stack, subject, role), "steps.llm", "x").ok());
    spine::v1::GetQueueStatsResponse none;
    CHECK(bus->GetQueueStats(Context(Sign(stack, subject, role)).get(), {}, &none).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
}

}  // namespace spine::testing
