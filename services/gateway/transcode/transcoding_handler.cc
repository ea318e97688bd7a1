#include "services/gateway/transcode/transcoding_handler.h"

#include <optional>
#include <variant>

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "libs/auth/jwt.h"
#include "libs/rpc/error_info.h"
#include "services/gateway/http/error_response.h"
#include "services/gateway/transcode/transcoder.h"

namespace spine::gateway {
namespace {

HttpResponse BadRequest(const absl::Status& status) {
  return MakeErrorResponse(absl::StatusCode::kInvalidArgument, status.message(),
                           "INVALID_ARGUMENT");
}

// application/json, with any parameters (charset=utf-8).
bool IsJson(const HttpRequest& request) {
  const std::optional<std::string> type = request.Header("Content-Type");
  if (!type) return false;
  const absl::string_view media = absl::StripAsciiWhitespace(
      absl::string_view(*type).substr(0, absl::string_view(*type).find(';')));
  return absl::EqualsIgnoreCase(media, "application/json");
}

// An empty body or an empty JSON object (JSON whitespace allowed): what most HTTP clients send
// on a POST that has nothing to say, so a route without a body takes it as no body.
bool IsEmptyBody(absl::string_view body) {
  constexpr absl::string_view kJsonWhitespace = " \t\n\r";
  const size_t open = body.find_first_not_of(kJsonWhitespace);
  if (open == absl::string_view::npos) return true;
  if (body[open] != '{') return false;
  const size_t close = body.find_first_not_of(kJsonWhitespace, open + 1);
  return close != absl::string_view::npos && body[close] == '}' &&
         body.find_first_not_of(kJsonWhitespace, close + 1) == absl::string_view::npos;
}

// gRPC's own limits, hit in the gateway's channel or the service's transport, come back as
// RESOURCE_EXHAUSTED with gRPC's text and no ErrorInfo; API.md's 429 would tell the client to
// retry what can never pass. They are recognised by gRPC core's wording and answered for what
// they are. The request-side ones are also checked before the call (Handle), so these are the
// fallback. nullopt for any other status.
std::optional<HttpResponse> TransportLimitError(const Route& route, const absl::Status& status) {
  if (status.code() != absl::StatusCode::kResourceExhausted) return std::nullopt;
  const absl::string_view message = status.message();
  if (absl::StrContains(message, "Sent message larger than max")) {
    return MakeErrorResponse(413, absl::StatusCode::kInvalidArgument,
                             "request body too large for the service", "BODY_TOO_LARGE");
  }
  if (absl::StrContains(message, "Received message larger than max")) {
    return MakeErrorResponse(502, absl::StatusCode::kInternal,
                             absl::StrCat(route.upstream, "'s answer is over the message limit"),
                             "UPSTREAM_RESPONSE_TOO_LARGE");
  }
  if (absl::StrContains(message, "metadata size exceeds limit")) {
    return MakeErrorResponse(431, absl::StatusCode::kInvalidArgument, "request headers too large",
                             "HEADERS_TOO_LARGE");
  }
  return std::nullopt;
}

// The answer for an upstream failure. Transport failures (the service is down or slow) get the
// gateway's own words: gRPC's message would name internal addresses.
HttpResponse UpstreamError(const Route& route, const absl::Status& status,
                           absl::Duration deadline) {
  if (std::optional<HttpResponse> limit = TransportLimitError(route, status)) return *limit;
  // A service that says it is unavailable (and why) is passed through like any other answer.
  if (const std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status)) {
    HttpResponse response = MakeErrorResponse(status, "");
    // A service that knows when to come back says so (a full model queue); else 1 s for 503.
    auto hint = info->metadata().find("retryAfterSeconds");
    int64_t seconds = 0;
    if (hint != info->metadata().end() && absl::SimpleAtoi(hint->second, &seconds) && seconds > 0) {
      response.headers.emplace_back("Retry-After", absl::StrCat(seconds));
    } else if (status.code() == absl::StatusCode::kUnavailable) {
      response.headers.emplace_back("Retry-After", "1");
    }
    return response;
  }
  switch (status.code()) {
    case absl::StatusCode::kUnavailable: {
      HttpResponse response = MakeErrorResponse(
          absl::StatusCode::kUnavailable,
          absl::StrCat(route.upstream, " is unavailable; retry shortly"), "UPSTREAM_UNAVAILABLE");
      response.headers.emplace_back("Retry-After", "1");
      return response;
    }
    case absl::StatusCode::kDeadlineExceeded:
      return MakeErrorResponse(
          absl::StatusCode::kDeadlineExceeded,
          absl::StrCat(route.upstream, " did not answer within ", absl::FormatDuration(deadline)),
          "UPSTREAM_TIMEOUT");
    default:
      // The service's own words and ErrorInfo reason; the code's name when it gave none.
      return MakeErrorResponse(status, absl::StatusCodeToString(status.code()));
  }
}

// The `Idempotency-Key` header (the IETF httpapi draft's name) as the request's
// `idempotency_key`: the same as that body field. Refused where the route has no such field
// (ignoring it would run the request twice on a retry) and when the body says otherwise.
absl::Status ApplyIdempotencyKeyHeader(const HttpRequest& http,
                                       google::protobuf::Message& request) {
  const std::optional<std::string> header = http.Header("Idempotency-Key");
  if (!header) return absl::OkStatus();
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("idempotency_key");
  if (field == nullptr || field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_STRING ||
      field->is_repeated()) {
    return absl::InvalidArgumentError("Idempotency-Key: this route takes no idempotency key");
  }
  const std::string key(absl::StripAsciiWhitespace(*header));
  if (key.empty()) return absl::InvalidArgumentError("Idempotency-Key: must not be empty");
  const google::protobuf::Reflection& reflection = *request.GetReflection();
  const std::string in_body = reflection.GetString(request, field);
  if (!in_body.empty() && in_body != key) {
    return absl::InvalidArgumentError(
        absl::StrCat("Idempotency-Key: the header says '", key.substr(0, 128), "' but the body's ",
                     field->json_name(), " says '", in_body.substr(0, 128), "'"));
  }
  reflection.SetString(&request, field, key);
  return absl::OkStatus();
}

// `Location` of a created resource: the GET route whose template is this one plus "/{id}".
std::optional<std::string> LocationOf(const RouteTable& routes, const Route& route,
                                      const google::protobuf::Message& response) {
  const google::protobuf::FieldDescriptor* id = response.GetDescriptor()->FindFieldByName("id");
  if (id == nullptr || id->is_repeated()) return std::nullopt;
  const Route* get = routes.Find("GET", absl::StrCat(route.path.text(), "/{id}"));
  if (get == nullptr) return std::nullopt;
  const google::protobuf::Reflection* reflection = response.GetReflection();
  std::string value;
  switch (id->cpp_type()) {
    case google::protobuf::FieldDescriptor::CPPTYPE_INT64:
      value = absl::StrCat(reflection->GetInt64(response, id));
      break;
    case google::protobuf::FieldDescriptor::CPPTYPE_STRING:
      value = reflection->GetString(response, id);
      break;
    default:
      return std::nullopt;
  }
  // Path variables fill whole segments; values with a '/' or '%' cannot be expressed plainly.
  if (value.empty() || absl::StrContains(value, '/') || absl::StrContains(value, '%')) {
    return std::nullopt;
  }
  return get->path.Expand({value});
}

// The longest Authorization header forwarded. Spine's tokens are a few hundred bytes; gRPC
// refuses more than 8 KiB of metadata in all (RESOURCE_EXHAUSTED, which would read as 429), so
// the verifier's own bound (kJwtMaxTokenBytes) cannot be reached through the gateway anyway.
constexpr size_t kMaxAuthorizationBytes = 4096;
static_assert(kMaxAuthorizationBytes <= kJwtMaxTokenBytes);

// At most this much of an event stream waits for the connection to pick it up.
constexpr size_t kMaxPendingStreamBytes = size_t{1} << 20;

// One server-sent event: `event: <name>` (unless empty) and the JSON as its data line.
std::string SseEvent(absl::string_view event, absl::string_view json) {
  return event.empty() ? absl::StrCat("data: ", json, "\n\n")
                       : absl::StrCat("event: ", event, "\ndata: ", json, "\n\n");
}

// A message whose set field is named `done` ends the stream: its value is the `done` event
// (API.md: the same object as the unary answer). Null for any other message.
const google::protobuf::Message* DonePayload(const google::protobuf::Message& message) {
  const google::protobuf::FieldDescriptor* done = message.GetDescriptor()->FindFieldByName("done");
  if (done == nullptr || done->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE ||
      done->is_repeated() || !message.GetReflection()->HasField(message, done)) {
    return nullptr;
  }
  return &message.GetReflection()->GetMessage(message, done);
}

// What the event stream and the download share: the upstream call, the connection's writer once
// it streams, and the cancel that whichever side goes first runs. Shared by the upstream's
// callbacks and the connection.
class ClientStream : public std::enable_shared_from_this<ClientStream> {
 public:
  ClientStream(const Route& route, absl::Duration deadline, HttpReply reply)
      : route_(route), deadline_(deadline), reply_(std::move(reply)) {}
  ClientStream(const ClientStream&) = delete;
  ClientStream& operator=(const ClientStream&) = delete;
  virtual ~ClientStream() = default;

  void set_upstream(std::shared_ptr<Upstream::Stream> upstream) {
    absl::MutexLock lock(&mu_);
    upstream_ = std::move(upstream);
    if (client_gone_) upstream_->Cancel();
  }

 protected:
  // The connection hands over its writer (after the head) with this.
  virtual void Attach(const std::shared_ptr<HttpBodyWriter>& writer) = 0;

  // Replies with `head`: the connection then calls Attach, and a client that goes away cancels
  // the upstream call.
  void ReplyHeadLocked(HttpResponse head) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    started_ = true;
    // Strong: what arrives before the connection takes the writer must survive the upstream
    // call. Weak below: the connection holds that one as long as it streams.
    head.stream = [self = shared_from_this()](const std::shared_ptr<HttpBodyWriter>& writer) {
      self->Attach(writer);
    };
    std::weak_ptr<ClientStream> weak = weak_from_this();
    head.on_client_gone = [weak] {
      if (auto self = weak.lock()) {
        absl::MutexLock lock(&self->mu_);
        self->CancelLocked();
      }
    };
    reply_(std::move(head));
  }

  // An ordinary error response: only before the head was sent.
  void ReplyErrorLocked(const absl::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    reply_(UpstreamError(route_, status, deadline_));
  }

  void CancelLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    client_gone_ = true;
    if (upstream_ != nullptr) upstream_->Cancel();
  }

  const Route& route_;
  const absl::Duration deadline_;
  absl::Mutex mu_;
  HttpReply reply_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Upstream::Stream> upstream_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<HttpBodyWriter> writer_ ABSL_GUARDED_BY(mu_);
  bool started_ ABSL_GUARDED_BY(mu_) = false;   // the head was sent
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // the upstream call ended
  bool client_gone_ ABSL_GUARDED_BY(mu_) = false;
};

// A server-streaming RPC answered as text/event-stream: every message is a `data:` event, the
// end is `event: done`, an upstream failure after the head is `event: error` with the error
// body. The head is only sent with the first message, so a call that fails at once still gets
// an ordinary error response with its status code. When the client goes away the upstream
// call is cancelled. Shared by the upstream's callbacks and the connection.
class EventStream final : public ClientStream {
 public:
  using ClientStream::ClientStream;

  void OnMessage(const google::protobuf::Message& message) {
    absl::MutexLock lock(&mu_);
    if (done_sent_) return;
    const google::protobuf::Message* done = DonePayload(message);
    absl::StatusOr<std::string> json = RenderResponse(done != nullptr ? *done : message);
    if (!json.ok()) return;
    done_sent_ = done != nullptr;
    SendLocked(SseEvent(done != nullptr ? "done" : "", *json));
  }

  void OnDone(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (!started_ && !status.ok()) return ReplyErrorLocked(status);
    if (!status.ok()) {
      SendLocked(SseEvent("error", UpstreamError(route_, status, deadline_).body));
    } else if (!done_sent_) {
      SendLocked(SseEvent("done", "{}"));
    }
    finished_ = true;
    if (writer_ != nullptr) {
      writer_->Finish();
      writer_.reset();
    }
  }

 private:
  void SendLocked(std::string event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!started_) Start();
    if (writer_ == nullptr) {
      if (finished_) return;
      pending_bytes_ += event.size();
      pending_.push_back(std::move(event));
      if (pending_bytes_ > kMaxPendingStreamBytes) CancelLocked();
      return;
    }
    if (!writer_->Write(std::move(event))) CancelLocked();
  }

  void Start() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    HttpResponse head;
    head.headers = {{"Content-Type", "text/event-stream"},
                    {"Cache-Control", "no-store"},
                    {"X-Accel-Buffering", "no"}};
    ReplyHeadLocked(std::move(head));
  }

  void Attach(const std::shared_ptr<HttpBodyWriter>& writer) override {
    absl::MutexLock lock(&mu_);
    writer_ = writer;
    for (std::string& event : pending_) {
      if (!writer_->Write(std::move(event))) CancelLocked();
    }
    pending_.clear();
    if (finished_) {
      writer_->Finish();
      writer_.reset();
    }
  }

  std::vector<std::string> pending_ ABSL_GUARDED_BY(mu_);
  size_t pending_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_sent_ ABSL_GUARDED_BY(mu_) = false;
};

// The value of a Content-Disposition filename: only names that need no quoting or escaping
// (what a backup name is); anything else gets no name.
std::optional<std::string> SafeFileName(const std::string& name) {
  if (name.empty() || name.size() > 128 || name.front() == '.') return std::nullopt;
  for (const char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return std::nullopt;
    }
  }
  return name;
}

// A server-streaming RPC answering spine.api.HttpBody, served as a plain chunked body: a
// download. Paced: the next message is asked for only once the client has taken the previous
// one, so at most one message waits in the gateway whatever the size of the file. A failure
// before the first message is an ordinary error response; after it the connection is cut
// without the body's end, so a client cannot take a partial file for a whole one. Shared by
// the upstream's callbacks and the connection.
class DownloadStream final : public ClientStream {
 public:
  using ClientStream::ClientStream;

  void OnMessage(const google::protobuf::Message& message) {
    spine::api::HttpBody body;
    body.CopyFrom(message);
    Then then = Then::kNothing;
    std::shared_ptr<HttpBodyWriter> writer;
    {
      absl::MutexLock lock(&mu_);
      if (!started_) {
        pending_ = std::move(*body.mutable_data());
        Start(body);  // the connection takes the writer later; Attach sends pending_
        return;
      }
      then = WriteLocked(std::move(*body.mutable_data()));
      writer = writer_;
    }
    After(then, writer);
  }

  void OnDone(const absl::Status& status) {
    absl::MutexLock lock(&mu_);
    if (!started_) {
      if (!status.ok()) return ReplyErrorLocked(status);
      HttpResponse empty;
      empty.headers = {{"Content-Type", "application/octet-stream"}, {"Cache-Control", "no-store"}};
      return reply_(std::move(empty));
    }
    finished_ = true;
    failed_ = !status.ok();
    if (writer_ != nullptr) EndLocked();
  }

 private:
  void Start(const spine::api::HttpBody& first) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    HttpResponse head;
    head.headers = {{"Content-Type", first.content_type().empty() ? "application/octet-stream"
                                                                  : first.content_type()},
                    {"Cache-Control", "no-store"},
                    {"X-Content-Type-Options", "nosniff"}};
    if (std::optional<std::string> name = SafeFileName(first.file_name())) {
      head.headers.emplace_back("Content-Disposition",
                                absl::StrCat("attachment; filename=\"", *name, "\""));
    }
    ReplyHeadLocked(std::move(head));
  }

  void Attach(const std::shared_ptr<HttpBodyWriter>& writer) override {
    Then then = Then::kNothing;
    {
      absl::MutexLock lock(&mu_);
      writer_ = writer;
      then = WriteLocked(std::move(pending_));
      if (finished_) EndLocked();
    }
    After(then, writer);
  }

  // What follows a write, done without the lock (a writer may call back at once).
  enum class Then { kNothing, kAskNext, kWaitForClient };

  // Sends `data`. The next message is asked for at once when there was nothing to send, else
  // once the client has taken it.
  Then WriteLocked(std::string data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (data.empty()) return Then::kAskNext;  // an empty chunk would read as the body's end
    if (writer_ == nullptr) {
      // Not while paced (nothing is asked for before Attach), but never lose bytes: Attach
      // sends them and asks for more.
      pending_ += data;
      return Then::kNothing;
    }
    if (!writer_->Write(std::move(data))) {
      CancelLocked();
      return Then::kNothing;
    }
    return Then::kWaitForClient;
  }

  void After(Then then, const std::shared_ptr<HttpBodyWriter>& writer) {
    if (then == Then::kAskNext) return Next();
    if (then != Then::kWaitForClient || writer == nullptr) return;
    std::weak_ptr<DownloadStream> weak =
        std::static_pointer_cast<DownloadStream>(shared_from_this());
    writer->WhenDrained([weak] {
      if (auto self = weak.lock()) self->Next();
    });
  }

  void Next() {
    std::shared_ptr<Upstream::Stream> upstream;
    {
      absl::MutexLock lock(&mu_);
      upstream = upstream_;
    }
    // Unlocked: asking gRPC for a read must not wait on this stream's lock.
    if (upstream != nullptr) upstream->Next();
  }

  void EndLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (failed_) {
      writer_->Abort();
    } else {
      writer_->Finish();
    }
    writer_.reset();
  }

  std::string pending_ ABSL_GUARDED_BY(mu_);  // the first message's data, until Attach
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

bool IsDownload(const Route& route) {
  return route.method->server_streaming() &&
         route.method->output_type() == spine::api::HttpBody::descriptor();
}

absl::Duration TranscodingHandler::UpstreamDeadline(
    const Route& route, const google::protobuf::Message& request) const {
  if (route.deadline_field != nullptr) {
    const google::protobuf::Reflection& reflection = *request.GetReflection();
    const bool set = route.deadline_field->has_presence()
                         ? reflection.HasField(request, route.deadline_field)
                         : reflection.GetInt32(request, route.deadline_field) != 0;
    if (set) {
      // The service enforces the caller's limit itself; the margin lets its answer (even a
      // DEADLINE_EXCEEDED) arrive rather than the gateway's own 504.
      const int32_t millis = reflection.GetInt32(request, route.deadline_field);
      return absl::Milliseconds(std::max(millis, 0)) + absl::Seconds(2);
    }
  }
  return route.deadline > absl::ZeroDuration() ? route.deadline : upstream_deadline_;
}

std::string TranscodingHandler::RouteLabel(const HttpRequest& request) const {
  absl::StatusOr<std::vector<std::string>> segments = SplitPath(request.path);
  if (!segments.ok()) return "";
  auto match = routes_.Match(request.method, *segments);
  if (const auto* found = std::get_if<RouteMatch>(&match)) return found->route->public_path;
  return "";
}

void TranscodingHandler::Handle(HttpRequest request, HttpReply reply) {
  absl::StatusOr<std::vector<std::string>> segments = SplitPath(request.path);
  if (!segments.ok()) return reply(BadRequest(segments.status()));
  auto match = routes_.Match(request.method, *segments);
  if (std::holds_alternative<NoRoute>(match)) {
    return reply(MakeErrorResponse(absl::StatusCode::kNotFound,
                                   absl::StrCat("no route for ", request.path), "ROUTE_NOT_FOUND"));
  }
  if (const auto* not_allowed = std::get_if<MethodNotAllowed>(&match)) {
    std::vector<std::string> allowed = not_allowed->allowed;
    if (absl::c_linear_search(allowed, "GET")) allowed.emplace_back("HEAD");
    HttpResponse response = MakeErrorResponse(
        405, absl::StatusCode::kUnimplemented,
        absl::StrCat("method ", request.method, " is not allowed on ", request.path),
        "METHOD_NOT_ALLOWED");
    response.headers.emplace_back("Allow", absl::StrJoin(allowed, ", "));
    return reply(std::move(response));
  }
  const RouteMatch& found = std::get<RouteMatch>(match);
  const Route& route = *found.route;

  if (!request.body.empty() && !route.body.empty() && !IsJson(request)) {
    return reply(MakeErrorResponse(415, absl::StatusCode::kInvalidArgument,
                                   "Content-Type must be application/json",
                                   "UNSUPPORTED_MEDIA_TYPE"));
  }
  if (route.body.empty()) {
    if (!IsEmptyBody(request.body)) {
      return reply(BadRequest(absl::InvalidArgumentError("body: this route takes no body")));
    }
    request.body.clear();
  }
  std::string authorization = request.Header("Authorization").value_or("");
  if (authorization.size() > kMaxAuthorizationBytes) {
    // No valid token is that long, and gRPC would refuse the metadata with a 429 of its own.
    return reply(MakeErrorResponse(
        absl::StatusCode::kUnauthenticated,
        absl::StrCat("Authorization: over ", kMaxAuthorizationBytes, " bytes; not a Spine token"),
        "UNAUTHENTICATED"));
  }
  absl::StatusOr<QueryParams> query = ParseQueryString(request.query);
  if (!query.ok()) return reply(BadRequest(query.status()));
  absl::StatusOr<std::unique_ptr<google::protobuf::Message>> rpc_request =
      BuildRequest(route, found.bindings, *query, request.body);
  if (!rpc_request.ok()) return reply(BadRequest(rpc_request.status()));
  if (absl::Status key = ApplyIdempotencyKeyHeader(request, **rpc_request); !key.ok()) {
    return reply(BadRequest(key));
  }
  if (const size_t size = (*rpc_request)->ByteSizeLong();
      size > static_cast<size_t>(max_message_bytes_)) {
    // JSON can encode to more protobuf than it has bytes (e.g. many empty objects).
    return reply(MakeErrorResponse(413, absl::StatusCode::kInvalidArgument,
                                   absl::StrCat("request message is ", size, " bytes, over the ",
                                                max_message_bytes_, "-byte limit"),
                                   "BODY_TOO_LARGE"));
  }

  UpstreamMetadata metadata{.authorization = std::move(authorization),
                            .request_id = request.request_id,
                            .client_ip = request.client_ip,
                            .deadline = UpstreamDeadline(route, **rpc_request)};
  if (IsDownload(route)) {
    auto download = std::make_shared<DownloadStream>(route, upstream_deadline_, std::move(reply));
    GatewayMetrics* metrics = metrics_;
    download->set_upstream(upstream_.StartStream(
        route, **rpc_request, metadata,
        [download](std::unique_ptr<google::protobuf::Message> message) {
          download->OnMessage(*message);
        },
        [download, metrics, &route](const absl::Status& status) {
          if (!status.ok() && metrics != nullptr) {
            metrics->RecordUpstreamError(route.upstream, status.code());
          }
          download->OnDone(status);
        },
        /*paced=*/true));
    return;
  }
  if (route.method->server_streaming()) {
    auto events = std::make_shared<EventStream>(route, upstream_deadline_, std::move(reply));
    GatewayMetrics* metrics = metrics_;
    events->set_upstream(upstream_.StartStream(
        route, **rpc_request, metadata,
        [events](std::unique_ptr<google::protobuf::Message> message) {
          events->OnMessage(*message);
        },
        [events, metrics, &route](const absl::Status& status) {
          if (!status.ok() && metrics != nullptr) {
            metrics->RecordUpstreamError(route.upstream, status.code());
          }
          events->OnDone(status);
        },
        /*paced=*/false));
    return;
  }
  upstream_.Call(route, **rpc_request, metadata,
                 [this, &route, deadline = metadata.deadline,
                  reply = std::move(reply)](absl::StatusOr<UpstreamResponse> result) {
                   if (!result.ok()) {
                     if (metrics_ != nullptr) {
                       metrics_->RecordUpstreamError(route.upstream, result.status().code());
                     }
                     return reply(UpstreamError(route, result.status(), deadline));
                   }
                   HttpResponse response;
                   response.status = route.success_code;
                   if (route.success_code == 202 && result->finished_early) response.status = 200;
                   if (route.success_code != 204) {
                     absl::StatusOr<std::string> body = RenderResponse(*result->message);
                     if (!body.ok()) {
                       return reply(MakeErrorResponse(absl::StatusCode::kInternal,
                                                      body.status().message(), "INTERNAL"));
                     }
                     response.headers.emplace_back("Content-Type", "application/json");
                     response.body = *std::move(body);
                   }
                   response.headers.emplace_back("Cache-Control", "no-store");
                   if (route.success_code == 201) {
                     if (auto location = LocationOf(routes_, route, *result->message)) {
                       response.headers.emplace_back("Location", *std::move(location));
                     }
                   }
                   reply(std::move(response));
                 });
}

}  // namespace spine::gateway
