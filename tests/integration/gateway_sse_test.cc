// Server-streaming RPCs through the real gateway as text/event-stream, against an in-process
// LlmService standing in for spine-llm on the stack's llm address.
#include <atomic>
#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "boost/asio.hpp"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "spine/v1/llm.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

// Streams "Hel", "lo", then done; with prompt "slow", one delta and then waits for the
// client to cancel (recording that it did).
class FakeLlm final : public spine::v1::LlmService::Service {
 public:
  grpc::Status StreamGenerate(grpc::ServerContext* context,
                              const spine::v1::GenerateRequest* request,
                              grpc::ServerWriter<spine::v1::GenerateStreamEvent>* writer) override {
    spine::v1::GenerateStreamEvent event;
    if (request->prompt() == "slow") {
      event.set_delta("first");
      writer->Write(event);
      // A sync handler hears of a cancel only by asking.
      if (PollUntil([&] { return context->IsCancelled(); }, absl::Seconds(20),
                    absl::Milliseconds(10))) {
        cancelled.Notify();
      }
      return grpc::Status::CANCELLED;
    }
    for (const char* delta : {"Hel", "lo"}) {
      event.set_delta(delta);
      writer->Write(event);
    }
    spine::v1::GenerateStreamEvent done;
    done.mutable_done()->set_text("Hello");
    done.mutable_done()->set_model(request->model());
    done.mutable_done()->set_finish_reason("stop");
    writer->Write(done);
    return grpc::Status::OK;
  }
  absl::Notification cancelled;
};

struct FakeLlmServer {
  explicit FakeLlmServer(const std::string& address) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(address, grpc::InsecureServerCredentials());
    builder.RegisterService(&service);
    server = builder.BuildAndStart();
    REQUIRE(server != nullptr);
  }
  ~FakeLlmServer() { server->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1))); }
  FakeLlm service;
  std::unique_ptr<grpc::Server> server;
};

std::string Bearer(const Constellation& stack) {
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return "Bearer " + *signer.Sign("1", "alice", "user");
}

}  // namespace

TEST_CASE("a server stream arrives as data events and ends with the done event") {
  Constellation stack(std::vector<std::string>{"gateway"});
  FakeLlmServer llm(stack.GrpcAddress("llm"));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const HttpResult result =
      HttpRequestTo(stack.http_port(), "POST", "/api/llm/stream",
                    {{"Authorization", Bearer(stack)}, {"Content-Type", "application/json"}},
                    R"({"model":"stub","prompt":"hi"})");
  REQUIRE(result.status == 200);
  CHECK(result.headers.at("content-type") == "text/event-stream");
  CHECK(result.body.rfind("data: {\"delta\":\"Hel\"}\n\ndata: {\"delta\":\"lo\"}\n\nevent: "
                          "done\ndata: ",
                          0) == 0);
  const std::string done = result.body.substr(result.body.find("event: done\ndata: ") + 18);
  const Json final_answer = Json::parse(done.substr(0, done.find('\n')));
  CHECK(final_answer["text"] == "Hello");
  CHECK(final_answer["model"] == "stub");
  CHECK(final_answer["finishReason"] == "stop");

  // The served OpenAPI document describes these events as they are: each event's data has
  // exactly the properties of the schema it documents for it, the required ones included.
  const HttpResult openapi = HttpRequestTo(stack.http_port(), "GET", "/openapi.json");
  REQUIRE(openapi.status == 200);
  const Json document = Json::parse(openapi.body);
  const Json& events =
      document["paths"]["/api/llm/stream"]["post"]["responses"]["200"]["x-spine-events"];
  auto schema_of = [&](const char* event) -> const Json& {
    const std::string ref = events[event]["data"]["$ref"].get<std::string>();
    return document["components"]["schemas"][ref.substr(ref.rfind('/') + 1)];
  };
  auto conforms = [](const Json& data, const Json& schema) {
    for (const auto& [key, value] : data.items()) {
      if (!schema["properties"].contains(key)) return false;
    }
    for (const Json& key : schema.value("required", Json::array())) {
      if (!data.contains(key.get<std::string>())) return false;
    }
    return true;
  };
  CHECK(conforms(Json::parse(R"({"delta":"Hel"})"), schema_of("message")));
  CHECK(conforms(final_answer, schema_of("done")));
  CHECK_FALSE(conforms(final_answer, schema_of("message")));  // not a GenerateStreamEvent
  // The descriptions come from the protos' comments, embedded in the binary.
  CHECK_FALSE(schema_of("done")["properties"]["text"].value("description", "").empty());
}

TEST_CASE("closing the connection cancels the upstream stream") {
  Constellation stack(std::vector<std::string>{"gateway"});
  FakeLlmServer llm(stack.GrpcAddress("llm"));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));

  namespace net = boost::asio;
  net::io_context io;
  net::ip::tcp::socket socket(io);
  socket.connect({net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(stack.http_port())});
  const std::string body = R"({"model":"stub","prompt":"slow"})";
  const std::string request = absl::StrCat(
      "POST /api/llm/stream HTTP/1.1\r\nHost: x\r\nAuthorization: ", Bearer(stack),
      "\r\nContent-Type: application/json\r\nContent-Length: ", body.size(), "\r\n\r\n", body);
  net::write(socket, net::buffer(request));
  std::string received;
  std::array<char, 4096> buffer{};
  while (received.find("first") == std::string::npos) {
    boost::system::error_code ec;
    const size_t n = socket.read_some(net::buffer(buffer), ec);
    REQUIRE_FALSE(ec);
    received.append(buffer.data(), n);
  }
  CHECK(received.rfind("HTTP/1.1 200", 0) == 0);
  socket.close();
  CHECK(llm.service.cancelled.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE("a stream whose upstream is down is an ordinary 503") {
  Constellation stack(std::vector<std::string>{"gateway"});
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  const HttpResult result =
      HttpRequestTo(stack.http_port(), "POST", "/api/llm/stream",
                    {{"Authorization", Bearer(stack)}, {"Content-Type", "application/json"}},
                    R"({"model":"stub","prompt":"hi"})");
  CHECK(result.status == 503);
  CHECK(Json::parse(result.body)["error"]["status"] == "UNAVAILABLE");
}

}  // namespace spine::testing
