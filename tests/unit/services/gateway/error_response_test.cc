#include "services/gateway/http/error_response.h"

#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "google/rpc/error_details.pb.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"

namespace spine::gateway {
namespace {

using Json = nlohmann::json;

// Every header named `name` (case-insensitive).
std::vector<std::string> HeaderValues(const HttpResponse& response, absl::string_view name) {
  std::vector<std::string> values;
  for (const auto& [key, value] : response.headers) {
    if (absl::EqualsIgnoreCase(key, name)) values.push_back(value);
  }
  return values;
}

std::vector<absl::StatusCode> AllErrorCodes() {
  std::vector<absl::StatusCode> codes;
  for (int code = 1; code <= 16; ++code) codes.push_back(static_cast<absl::StatusCode>(code));
  return codes;
}

TEST_CASE("every gRPC error code maps to the HTTP status in API.md") {
  const auto [code, http] = GENERATE(table<absl::StatusCode, int>({
      {absl::StatusCode::kInvalidArgument, 400},
      {absl::StatusCode::kFailedPrecondition, 400},
      {absl::StatusCode::kOutOfRange, 400},
      {absl::StatusCode::kUnauthenticated, 401},
      {absl::StatusCode::kPermissionDenied, 403},
      {absl::StatusCode::kNotFound, 404},
      {absl::StatusCode::kAlreadyExists, 409},
      {absl::StatusCode::kAborted, 409},
      {absl::StatusCode::kResourceExhausted, 429},
      {absl::StatusCode::kCancelled, 499},
      {absl::StatusCode::kUnknown, 500},
      {absl::StatusCode::kInternal, 500},
      {absl::StatusCode::kDataLoss, 500},
      {absl::StatusCode::kUnimplemented, 501},
      {absl::StatusCode::kUnavailable, 503},
      {absl::StatusCode::kDeadlineExceeded, 504},
  }));
  INFO(absl::StatusCodeToString(code));
  CHECK(HttpStatusFor(code) == http);
  CHECK(MakeErrorResponse(code, "m", "R").status == http);
}

TEST_CASE("the status table covers all sixteen error codes") {
  for (absl::StatusCode code : AllErrorCodes()) {
    INFO(absl::StatusCodeToString(code));
    const int http = HttpStatusFor(code);
    CHECK(http >= 400);
    CHECK(http <= 599);
  }
}

TEST_CASE("an out-of-range status code maps to 500") {
  CHECK(HttpStatusFor(static_cast<absl::StatusCode>(42)) == 500);
}

TEST_CASE("an error response body has exactly the AIP-193 shape") {
  const HttpResponse response =
      MakeErrorResponse(absl::StatusCode::kNotFound, "thought 42 not found", "THOUGHT_NOT_FOUND");
  REQUIRE(Json::accept(response.body));
  const Json expected = Json::parse(R"({"error": {
      "code": 404, "status": "NOT_FOUND", "message": "thought 42 not found",
      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                   "reason": "THOUGHT_NOT_FOUND", "domain": "spine", "metadata": {}}]}})");
  CHECK(Json::parse(response.body) == expected);
  CHECK(response.status == 404);
}

TEST_CASE("every error response has the shape, the code name and a JSON content type") {
  for (absl::StatusCode code : AllErrorCodes()) {
    INFO(absl::StatusCodeToString(code));
    const HttpResponse response = MakeErrorResponse(code, "msg", "SOME_REASON");
    REQUIRE(Json::accept(response.body));
    const Json body = Json::parse(response.body);
    REQUIRE(body.is_object());
    CHECK(body.size() == 1);
    const Json& error = body.at("error");
    CHECK(error.size() == 4);
    CHECK(error.at("code") == HttpStatusFor(code));
    CHECK(error.at("status") == absl::StatusCodeToString(code));
    CHECK(error.at("message") == "msg");
    REQUIRE(error.at("details").is_array());
    REQUIRE(error.at("details").size() == 1);
    const Json& info = error.at("details")[0];
    CHECK(info.size() == 4);
    CHECK(info.at("@type") == "type.googleapis.com/google.rpc.ErrorInfo");
    CHECK(info.at("reason") == "SOME_REASON");
    CHECK(info.at("domain") == "spine");
    CHECK(info.at("metadata") == Json::object());
    CHECK(HeaderValues(response, "Content-Type") == std::vector<std::string>{"application/json"});
  }
}

TEST_CASE("a WWW-Authenticate Bearer challenge comes exactly with UNAUTHENTICATED") {
  for (absl::StatusCode code : AllErrorCodes()) {
    INFO(absl::StatusCodeToString(code));
    const std::vector<std::string> challenge =
        HeaderValues(MakeErrorResponse(code, "m", "R"), "WWW-Authenticate");
    if (code == absl::StatusCode::kUnauthenticated) {
      REQUIRE(challenge.size() == 1);
      CHECK(absl::StartsWith(challenge[0], "Bearer"));
    } else {
      CHECK(challenge.empty());
    }
  }
}

TEST_CASE("an error response with its own HTTP status keeps the gRPC code name") {
  const HttpResponse response = MakeErrorResponse(413, absl::StatusCode::kInvalidArgument,
                                                  "body too large", "BODY_TOO_LARGE");
  CHECK(response.status == 413);
  const Json body = Json::parse(response.body);
  CHECK(body["error"]["code"] == 413);
  CHECK(body["error"]["status"] == "INVALID_ARGUMENT");
  CHECK(body["error"]["details"][0]["reason"] == "BODY_TOO_LARGE");
}

TEST_CASE("an error message with special characters round-trips through the JSON body") {
  const std::string message = "bad \"input\"\n\\ \t\x01 caf\xC3\xA9";
  const HttpResponse response = MakeErrorResponse(absl::StatusCode::kInvalidArgument, message, "R");
  REQUIRE(Json::accept(response.body));
  CHECK(response.body.find('\n') == std::string::npos);
  CHECK(Json::parse(response.body)["error"]["message"] == message);
}

TEST_CASE("an error message with invalid UTF-8 still gives a JSON body") {
  const HttpResponse response =
      MakeErrorResponse(absl::StatusCode::kInvalidArgument, "bad \xff byte", "R");
  REQUIRE(Json::accept(response.body));
  CHECK(Json::parse(response.body)["error"]["message"] == "bad \xEF\xBF\xBD byte");
}

TEST_CASE("an error status with an ErrorInfo answers with its reason and metadata") {
  const absl::Status status =
      rpc::WithErrorInfo(absl::NotFoundError("thought 42 not found"), "THOUGHT_NOT_FOUND",
                         {{"zeta", "2"}, {"id", "42"}});
  const HttpResponse response = MakeErrorResponse(status, "NOT_FOUND");
  CHECK(response.status == 404);
  REQUIRE(Json::accept(response.body));
  const Json expected = Json::parse(R"({"error": {
      "code": 404, "status": "NOT_FOUND", "message": "thought 42 not found",
      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                   "reason": "THOUGHT_NOT_FOUND", "domain": "spine",
                   "metadata": {"id": "42", "zeta": "2"}}]}})");
  CHECK(Json::parse(response.body) == expected);
  // Keys in a fixed (sorted) order, so equal errors give byte-equal bodies.
  CHECK(response.body.find("\"id\"") < response.body.find("\"zeta\""));
  CHECK(HeaderValues(response, "Content-Type") == std::vector<std::string>{"application/json"});
}

TEST_CASE("a plugin's own failure is 502 with its reason, other UNKNOWN errors stay 500") {
  for (const char* reason :
       {"PLUGIN_ERROR", "PLUGIN_CRASHED", "PLUGIN_BAD_OUTPUT", "SANDBOX_VIOLATION"}) {
    INFO(reason);
    const HttpResponse response = MakeErrorResponse(
        rpc::WithErrorInfo(absl::UnknownError("plugin 'x' crashed"), reason), "UNKNOWN");
    CHECK(response.status == 502);
    const Json body = Json::parse(response.body);
    CHECK(body["error"]["code"] == 502);
    CHECK(body["error"]["status"] == "UNKNOWN");
    CHECK(body["error"]["details"][0]["reason"] == reason);
  }
  CHECK(
      MakeErrorResponse(rpc::WithErrorInfo(absl::UnknownError("x"), "SOMETHING_ELSE"), "").status ==
      500);
  CHECK(MakeErrorResponse(absl::UnknownError("x"), "UNKNOWN").status == 500);
  // The reason alone does not make a 502: only with the codes a plugin failure travels under.
  CHECK(MakeErrorResponse(rpc::WithErrorInfo(absl::NotFoundError("x"), "PLUGIN_CRASHED"), "")
            .status == 404);
}

TEST_CASE("a plugin failure under its meaningful gRPC code is still 502, named by that code") {
  const HttpResponse crashed = MakeErrorResponse(
      rpc::WithErrorInfo(absl::InternalError("plugin 'x' crashed"), "PLUGIN_CRASHED"), "");
  CHECK(crashed.status == 502);
  CHECK(Json::parse(crashed.body)["error"]["status"] == "INTERNAL");
  const HttpResponse violation =
      MakeErrorResponse(rpc::WithErrorInfo(absl::PermissionDeniedError("plugin 'x' was stopped"),
                                           "SANDBOX_VIOLATION"),
                        "");
  CHECK(violation.status == 502);
  CHECK(Json::parse(violation.body)["error"]["status"] == "PERMISSION_DENIED");
}

TEST_CASE("a reused idempotency key is 422, other invalid arguments stay 400") {
  CHECK(MakeErrorResponse(
            rpc::WithErrorInfo(absl::InvalidArgumentError("idempotencyKey 'k' was already used"),
                               "IDEMPOTENCY_KEY_REUSED"),
            "")
            .status == 422);
  CHECK(MakeErrorResponse(absl::InvalidArgumentError("x"), "INVALID_ARGUMENT").status == 400);
}

TEST_CASE("an error status without an ErrorInfo answers with the default reason") {
  const HttpResponse response =
      MakeErrorResponse(absl::NotFoundError("thought 42 not found"), "THOUGHT_NOT_FOUND");
  CHECK(response.status == 404);
  REQUIRE(Json::accept(response.body));
  const Json expected = Json::parse(R"({"error": {
      "code": 404, "status": "NOT_FOUND", "message": "thought 42 not found",
      "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo",
                   "reason": "THOUGHT_NOT_FOUND", "domain": "spine", "metadata": {}}]}})");
  CHECK(Json::parse(response.body) == expected);
  // The body is byte-for-byte what the code-based overload gives.
  CHECK(response.body ==
        MakeErrorResponse(absl::StatusCode::kNotFound, "thought 42 not found", "THOUGHT_NOT_FOUND")
            .body);
}

TEST_CASE("an ErrorInfo from another domain or without a reason still gives the spine shape") {
  google::rpc::ErrorInfo foreign;
  foreign.set_domain("example.com");
  const HttpResponse no_reason = MakeErrorResponse(
      rpc::AttachErrorInfo(absl::UnavailableError("down"), foreign), "BACKEND_UNAVAILABLE");
  const Json info = Json::parse(no_reason.body)["error"]["details"][0];
  CHECK(info["reason"] == "BACKEND_UNAVAILABLE");
  CHECK(info["domain"] == "spine");
  CHECK(info["metadata"] == Json::object());

  foreign.set_reason("QUOTA");
  const HttpResponse with_reason = MakeErrorResponse(
      rpc::AttachErrorInfo(absl::ResourceExhaustedError("slow down"), foreign), "DEFAULT");
  CHECK(with_reason.status == 429);
  CHECK(Json::parse(with_reason.body)["error"]["details"][0]["reason"] == "QUOTA");
  CHECK(Json::parse(with_reason.body)["error"]["details"][0]["domain"] == "spine");
}

TEST_CASE("every error status answers with its code's HTTP status and challenge") {
  for (absl::StatusCode code : AllErrorCodes()) {
    INFO(absl::StatusCodeToString(code));
    const absl::Status status = rpc::WithErrorInfo(absl::Status(code, "msg"), "SOME_REASON");
    const HttpResponse response = MakeErrorResponse(status, "DEFAULT");
    CHECK(response.status == HttpStatusFor(code));
    const Json error = Json::parse(response.body).at("error");
    CHECK(error.size() == 4);
    CHECK(error.at("status") == absl::StatusCodeToString(code));
    CHECK(error.at("details")[0].size() == 4);
    CHECK(error.at("details")[0].at("reason") == "SOME_REASON");
    CHECK(HeaderValues(response, "WWW-Authenticate").size() ==
          (code == absl::StatusCode::kUnauthenticated ? 1U : 0U));
  }
}

TEST_CASE("an OK status given as an error answers 500 UNKNOWN") {
  const HttpResponse response = MakeErrorResponse(absl::OkStatus(), "INTERNAL_ERROR");
  CHECK(response.status == 500);
  const Json body = Json::parse(response.body);
  CHECK(body["error"]["status"] == "UNKNOWN");
  CHECK(body["error"]["details"][0]["reason"] == "INTERNAL_ERROR");
}

}  // namespace
}  // namespace spine::gateway
