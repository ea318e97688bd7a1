// TranscodingHandler against a fake upstream: what reaches the service, and how its answers —
// unary, errors, and server streams — become HTTP.
#include "services/gateway/transcode/transcoding_handler.h"

#include <catch2/catch.hpp>
#include <map>
#include <optional>

#include "absl/synchronization/mutex.h"
#include "google/protobuf/util/json_util.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/method_access.h"
#include "nlohmann/json.hpp"
#include "spine/v1/llm.pb.h"
#include "spine/v1/storage.pb.h"
#include "spine/v1/tasks.pb.h"

namespace spine::gateway {
namespace {

using Json = nlohmann::json;

// Answers every call at once with what the test scripted; records what it was sent.
class FakeUpstream final : public Upstream {
 public:
  struct Recorded {
    std::string method;
    std::string request_json;
    UpstreamMetadata metadata;
  };

  void Call(const Route& route, const google::protobuf::Message& request,
            const UpstreamMetadata& metadata, Done done) const override {
    Record(route, request, metadata);
    if (!unary_result.ok()) return done(unary_result.status());
    std::unique_ptr<google::protobuf::Message> answer(
        google::protobuf::MessageFactory::generated_factory()
            ->GetPrototype(route.method->output_type())
            ->New());
    answer->CopyFrom(**unary_result);
    done(UpstreamResponse{.message = std::move(answer), .finished_early = finished_early});
  }

  class FakeStream final : public Stream {
   public:
    void Cancel() override { cancelled = true; }
    void Next() override { ++nexts; }
    bool cancelled = false;
    int nexts = 0;
  };

  std::shared_ptr<Stream> StartStream(const Route& route, const google::protobuf::Message& request,
                                      const UpstreamMetadata& metadata, OnMessage on_message,
                                      std::function<void(absl::Status)> done,
                                      bool paced) const override {
    last_paced = paced;
    Record(route, request, metadata);
    auto stream = std::make_shared<FakeStream>();
    last_stream = stream;
    for (const auto& message : stream_messages) {
      std::unique_ptr<google::protobuf::Message> copy(message->New());
      copy->CopyFrom(*message);
      on_message(std::move(copy));
    }
    if (stream_end)
      done(*stream_end);
    else
      pending_done = std::move(done);
    return stream;
  }

  mutable bool last_paced = false;
  absl::StatusOr<const google::protobuf::Message*> unary_result =
      absl::InternalError("not scripted");
  bool finished_early = false;
  std::vector<std::shared_ptr<google::protobuf::Message>> stream_messages;
  std::optional<absl::Status> stream_end = absl::OkStatus();
  mutable std::function<void(absl::Status)> pending_done;
  mutable std::shared_ptr<FakeStream> last_stream;
  mutable std::vector<Recorded> calls;

 private:
  void Record(const Route& route, const google::protobuf::Message& request,
              const UpstreamMetadata& metadata) const {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(request, &json);
    calls.push_back({route.GrpcPath(), json, metadata});
  }
};

// Collects what a streamed body receives.
class CollectingWriter final : public HttpBodyWriter {
 public:
  bool Write(std::string chunk) override {
    body += chunk;
    return !refuse;
  }
  void Finish() override { finished = true; }
  void Abort() override { aborted = true; }
  void WhenDrained(std::function<void()> ready) override {
    ++drain_waits;
    ready();
  }
  std::string body;
  bool finished = false;
  bool aborted = false;
  bool refuse = false;
  int drain_waits = 0;
};

struct Fixture {
  Fixture() {
    auto built = RouteTable::Build(rpc::SpineApiFiles());
    REQUIRE(built.ok());
    routes.emplace(*std::move(built));
    handler.emplace(*routes, upstream, absl::Seconds(5));
  }

  HttpResponse Send(const std::string& method, const std::string& path,
                    const std::string& body = "", const std::string& query = "") {
    HttpRequest request;
    request.method = method;
    request.path = path;
    request.query = query;
    request.body = body;
    request.request_id = "req-1";
    request.headers = {{"Authorization", "Bearer t"}};
    if (!body.empty()) request.headers.emplace_back("Content-Type", "application/json");
    std::optional<HttpResponse> answer;
    handler->Handle(std::move(request),
                    [&answer](HttpResponse response) { answer = std::move(response); });
    REQUIRE(answer.has_value());  // the fake answers inline
    return *std::move(answer);
  }

  std::optional<RouteTable> routes;
  FakeUpstream upstream;
  std::optional<TranscodingHandler> handler;
};

std::optional<std::string> HeaderOf(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE_METHOD(Fixture, "a create forwards the caller and answers 201 with Location") {
  spine::v1::Thought thought;
  thought.set_id(5);
  thought.set_text("hi");
  upstream.unary_result = &thought;
  const HttpResponse response = Send("POST", "/api/thoughts", R"({"text":"hi"})");
  CHECK(response.status == 201);
  CHECK(HeaderOf(response, "Location") == "/api/thoughts/5");
  CHECK(Json::parse(response.body)["id"] == "5");
  REQUIRE(upstream.calls.size() == 1);
  CHECK(upstream.calls[0].method == "/spine.v1.ThoughtService/CreateThought");
  CHECK(upstream.calls[0].metadata.authorization == "Bearer t");
  CHECK(upstream.calls[0].metadata.request_id == "req-1");
  CHECK(Json::parse(upstream.calls[0].request_json)["text"] == "hi");
}

TEST_CASE_METHOD(Fixture, "a service's error keeps its message and ErrorInfo reason") {
  upstream.unary_result =
      rpc::WithErrorInfo(absl::NotFoundError("thought 9 not found"), "THOUGHT_NOT_FOUND");
  const HttpResponse response = Send("GET", "/api/thoughts/9");
  CHECK(response.status == 404);
  const Json body = Json::parse(response.body);
  CHECK(body["error"]["message"] == "thought 9 not found");
  CHECK(body["error"]["details"][0]["reason"] == "THOUGHT_NOT_FOUND");
}

TEST_CASE_METHOD(Fixture, "a transport failure is 503 in the gateway's words, never gRPC's") {
  upstream.unary_result =
      absl::UnavailableError("failed to connect to all addresses; last error: 127.0.0.1:50051");
  const HttpResponse response = Send("GET", "/api/thoughts");
  CHECK(response.status == 503);
  CHECK(HeaderOf(response, "Retry-After") == "1");
  CHECK(response.body.find("127.0.0.1") == std::string::npos);
  CHECK(Json::parse(response.body)["error"]["details"][0]["reason"] == "UPSTREAM_UNAVAILABLE");
  upstream.unary_result = absl::DeadlineExceededError("Deadline Exceeded");
  CHECK(Send("GET", "/api/thoughts").status == 504);
}

TEST_CASE_METHOD(Fixture, "a server stream becomes data events and a done event") {
  for (const char* delta : {"Hel", "lo"}) {
    auto event = std::make_shared<spine::v1::GenerateStreamEvent>();
    event->set_delta(delta);
    upstream.stream_messages.push_back(event);
  }
  auto last = std::make_shared<spine::v1::GenerateStreamEvent>();
  last->mutable_done()->set_text("Hello");
  last->mutable_done()->set_finish_reason("stop");
  upstream.stream_messages.push_back(last);

  const HttpResponse head = Send("POST", "/api/llm/stream", R"({"model":"stub","prompt":"hi"})");
  CHECK(head.status == 200);
  CHECK(HeaderOf(head, "Content-Type") == "text/event-stream");
  REQUIRE(head.stream);
  auto writer = std::make_shared<CollectingWriter>();
  head.stream(writer);
  CHECK(writer->finished);
  CHECK(writer->body.rfind("data: {\"delta\":\"Hel\"}\n\ndata: {\"delta\":\"lo\"}\n\nevent: done\n",
                           0) == 0);
  const std::string done_data = writer->body.substr(writer->body.find("event: done\ndata: ") + 18);
  CHECK(Json::parse(done_data.substr(0, done_data.find('\n')))["text"] == "Hello");
}

TEST_CASE_METHOD(Fixture, "a stream that fails before its first event is an ordinary error") {
  upstream.stream_end = absl::UnavailableError("connection refused");
  const HttpResponse response =
      Send("POST", "/api/llm/stream", R"({"model":"stub","prompt":"hi"})");
  CHECK(response.status == 503);
  CHECK_FALSE(response.stream);
}

TEST_CASE_METHOD(Fixture, "a client that goes away cancels the upstream stream") {
  auto event = std::make_shared<spine::v1::GenerateStreamEvent>();
  event->set_delta("x");
  upstream.stream_messages.push_back(event);
  upstream.stream_end.reset();  // still generating
  const HttpResponse head = Send("POST", "/api/llm/stream", R"({"model":"stub","prompt":"hi"})");
  REQUIRE(head.on_client_gone);
  REQUIRE(upstream.last_stream != nullptr);
  CHECK_FALSE(upstream.last_stream->cancelled);
  head.on_client_gone();
  CHECK(upstream.last_stream->cancelled);
  // The upstream then ends with CANCELLED; nothing is written to the gone client.
  upstream.pending_done(absl::CancelledError("cancelled"));
}

TEST_CASE_METHOD(Fixture, "a stream that fails midway ends with an error event") {
  auto event = std::make_shared<spine::v1::GenerateStreamEvent>();
  event->set_delta("x");
  upstream.stream_messages.push_back(event);
  upstream.stream_end =
      rpc::WithErrorInfo(absl::ResourceExhaustedError("queue full"), "QUEUE_FULL");
  const HttpResponse head = Send("POST", "/api/llm/stream", R"({"model":"stub","prompt":"hi"})");
  REQUIRE(head.stream);
  auto writer = std::make_shared<CollectingWriter>();
  head.stream(writer);
  CHECK(writer->finished);
  CHECK(writer->body.find("event: error\ndata: ") != std::string::npos);
  CHECK(writer->body.find("QUEUE_FULL") != std::string::npos);
}

std::shared_ptr<spine::api::HttpBody> BodyPart(const std::string& data, bool first = false) {
  auto part = std::make_shared<spine::api::HttpBody>();
  part->set_data(data);
  if (first) {
    part->set_content_type("application/vnd.sqlite3");
    part->set_file_name("nightly.db");
  }
  return part;
}

TEST_CASE_METHOD(Fixture, "a download streams the raw bytes, paced, with its file name") {
  upstream.stream_messages = {BodyPart("SQLite", true), BodyPart(""), BodyPart(" format 3")};
  const HttpResponse head = Send("GET", "/api/admin/backups/nightly.db");
  CHECK(upstream.last_paced);
  REQUIRE(upstream.calls.size() == 1);
  CHECK(upstream.calls[0].method == "/spine.v1.StorageService/DownloadBackup");
  CHECK(head.status == 200);
  CHECK(HeaderOf(head, "Content-Type") == "application/vnd.sqlite3");
  CHECK(HeaderOf(head, "Content-Disposition") == "attachment; filename=\"nightly.db\"");
  REQUIRE(head.stream);
  auto writer = std::make_shared<CollectingWriter>();
  head.stream(writer);
  CHECK(writer->body == "SQLite format 3");  // not JSON, not events: the bytes themselves
  CHECK(writer->finished);
  CHECK_FALSE(writer->aborted);
  // Each write waits for the client before the next message is asked for.
  CHECK(writer->drain_waits >= 1);
  CHECK(upstream.last_stream->nexts >= 1);
}

TEST_CASE_METHOD(Fixture, "a download that fails midway is cut short, never finished") {
  upstream.stream_messages = {BodyPart("half a fi", true)};
  upstream.stream_end = absl::DataLossError("disk error");
  const HttpResponse head = Send("GET", "/api/admin/backups/nightly.db");
  REQUIRE(head.stream);
  auto writer = std::make_shared<CollectingWriter>();
  head.stream(writer);
  CHECK(writer->body == "half a fi");
  CHECK(writer->aborted);
  CHECK_FALSE(writer->finished);  // a chunked body without its end: the client sees the failure
}

TEST_CASE_METHOD(Fixture, "a download refused before its first byte is an ordinary error") {
  upstream.stream_end = absl::NotFoundError("backup 'x.db' not found");
  const HttpResponse response = Send("GET", "/api/admin/backups/x.db");
  CHECK(response.status == 404);
  CHECK_FALSE(response.stream);
  // A file name that would need quoting is not put in Content-Disposition.
  upstream.stream_end = absl::OkStatus();
  auto odd = BodyPart("x", true);
  odd->set_file_name("a\"b.db");
  upstream.stream_messages = {odd};
  CHECK_FALSE(HeaderOf(Send("GET", "/api/admin/backups/x.db"), "Content-Disposition"));
}

TEST_CASE_METHOD(Fixture, "a route waits for the request's own time limit, else its own") {
  spine::v1::GenerateResponse generated;
  upstream.unary_result = &generated;
  REQUIRE(
      Send("POST", "/api/llm/generate", R"({"model":"m","prompt":"p","timeoutMs":30000})").status ==
      200);
  CHECK(upstream.calls.back().metadata.deadline == absl::Seconds(32));
  REQUIRE(Send("POST", "/api/llm/generate", R"({"model":"m","prompt":"p"})").status == 200);
  CHECK(upstream.calls.back().metadata.deadline == absl::Seconds(605));
  spine::v1::Thought thought;
  upstream.unary_result = &thought;
  REQUIRE(Send("GET", "/api/thoughts/5").status == 200);
  CHECK(upstream.calls.back().metadata.deadline == absl::Seconds(5));  // the default
}

TEST_CASE_METHOD(Fixture, "a 202 route answers 200 only when the service says the run ended") {
  spine::v1::Run run;
  upstream.unary_result = &run;
  CHECK(Send("POST", "/api/runs", R"({"definition":{},"waitMs":1000})").status == 202);
  CHECK(upstream.calls.back().metadata.deadline == absl::Seconds(3));
  upstream.finished_early = true;
  CHECK(Send("POST", "/api/runs", R"({"definition":{},"waitMs":1000})").status == 200);
  // Nothing else can change a route's status.
  spine::v1::Pipeline pipeline;
  upstream.unary_result = &pipeline;
  CHECK(Send("POST", "/api/pipelines", R"({"name":"p","definition":{}})").status == 201);
}

TEST_CASE_METHOD(Fixture, "gRPC's own limits are answered for what they are, never as 429") {
  // What gRPC core says when a limit is hit in the channel or the service's transport.
  upstream.unary_result =
      absl::ResourceExhaustedError("Sent message larger than max (5000000 vs. 4194304)");
  HttpResponse response = Send("GET", "/api/thoughts");
  CHECK(response.status == 413);
  CHECK(response.body.find("larger than max") == std::string::npos);
  upstream.unary_result =
      absl::ResourceExhaustedError("received initial metadata size exceeds limit");
  response = Send("GET", "/api/thoughts");
  CHECK(response.status == 431);
  CHECK(response.body.find("exceeds limit") == std::string::npos);
  upstream.unary_result =
      absl::ResourceExhaustedError("Received message larger than max (5000000 vs. 4194304)");
  CHECK(Send("GET", "/api/thoughts").status == 502);
  // A service's own RESOURCE_EXHAUSTED is still 429.
  upstream.unary_result =
      rpc::WithErrorInfo(absl::ResourceExhaustedError("queue full"), "QUEUE_FULL");
  CHECK(Send("GET", "/api/thoughts").status == 429);
}

TEST_CASE_METHOD(Fixture, "an oversized bearer token is 401 before any call") {
  HttpRequest request;
  request.method = "GET";
  request.path = "/api/thoughts";
  request.request_id = "req-1";
  request.headers = {{"Authorization", "Bearer " + std::string(size_t{8} * 1024, 'a')}};
  std::optional<HttpResponse> answer;
  handler->Handle(std::move(request), [&answer](HttpResponse r) { answer = std::move(r); });
  REQUIRE(answer.has_value());
  CHECK(answer->status == 401);
  CHECK(upstream.calls.empty());
}

TEST_CASE("a request message over the gRPC limit is 413 before any call") {
  auto built = RouteTable::Build(rpc::SpineApiFiles());
  REQUIRE(built.ok());
  FakeUpstream upstream;
  // A tiny limit: the JSON body is within HTTP's, its message is not within gRPC's.
  TranscodingHandler handler(*built, upstream, absl::Seconds(5), nullptr, /*max_message_bytes=*/64);
  HttpRequest request;
  request.method = "POST";
  request.path = "/api/thoughts";
  request.request_id = "req-1";
  request.headers = {{"Authorization", "Bearer t"}, {"Content-Type", "application/json"}};
  request.body = R"({"text":")" + std::string(100, 'x') + R"("})";
  std::optional<HttpResponse> answer;
  handler.Handle(std::move(request), [&answer](HttpResponse r) { answer = std::move(r); });
  REQUIRE(answer.has_value());
  CHECK(answer->status == 413);
  CHECK(upstream.calls.empty());
}

}  // namespace spine::gateway
