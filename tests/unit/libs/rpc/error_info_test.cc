#include "libs/rpc/error_info.h"

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"
#include "libs/rpc/status_convert.h"

namespace spine::rpc {
namespace {

std::map<std::string, std::string> Metadata(const google::rpc::ErrorInfo& info) {
  return {info.metadata().begin(), info.metadata().end()};
}

TEST_CASE("an ErrorInfo attached to a status reads back with domain spine") {
  const absl::Status status =
      WithErrorInfo(absl::NotFoundError("thought 42 not found"), "THOUGHT_NOT_FOUND",
                    {{"id", "42"}, {"kind", "thought"}});
  CHECK(status.code() == absl::StatusCode::kNotFound);
  CHECK(status.message() == "thought 42 not found");
  const std::optional<google::rpc::ErrorInfo> info = GetErrorInfo(status);
  REQUIRE(info.has_value());
  CHECK(info->reason() == "THOUGHT_NOT_FOUND");
  CHECK(info->domain() == "spine");
  CHECK(Metadata(*info) == std::map<std::string, std::string>{{"id", "42"}, {"kind", "thought"}});
}

TEST_CASE("a second ErrorInfo replaces the first") {
  const absl::Status status =
      WithErrorInfo(WithErrorInfo(absl::InternalError("x"), "FIRST", {{"a", "1"}}), "SECOND");
  const std::optional<google::rpc::ErrorInfo> info = GetErrorInfo(status);
  REQUIRE(info.has_value());
  CHECK(info->reason() == "SECOND");
  CHECK(info->metadata().empty());
}

TEST_CASE("a status without an ErrorInfo, or with a malformed one, has none") {
  CHECK_FALSE(GetErrorInfo(absl::NotFoundError("x")).has_value());
  CHECK_FALSE(GetErrorInfo(absl::OkStatus()).has_value());
  absl::Status garbage = absl::NotFoundError("x");
  garbage.SetPayload(kErrorInfoTypeUrl, absl::Cord("\xff\xff\xff"));
  CHECK_FALSE(GetErrorInfo(garbage).has_value());
}

TEST_CASE("an OK status stays OK and carries no ErrorInfo") {
  const absl::Status status = WithErrorInfo(absl::OkStatus(), "SOME_REASON");
  CHECK(status.ok());
  CHECK_FALSE(GetErrorInfo(status).has_value());
}

TEST_CASE("WithErrorInfoIf tags only the given code and keeps a deeper reason") {
  const absl::Status tagged = WithErrorInfoIf(absl::NotFoundError("run 7 not found"),
                                              absl::StatusCode::kNotFound, "RUN_NOT_FOUND");
  REQUIRE(GetErrorInfo(tagged).has_value());
  CHECK(GetErrorInfo(tagged)->reason() == "RUN_NOT_FOUND");
  CHECK(tagged.message() == "run 7 not found");

  const absl::Status other =
      WithErrorInfoIf(absl::InternalError("disk"), absl::StatusCode::kNotFound, "RUN_NOT_FOUND");
  CHECK_FALSE(GetErrorInfo(other).has_value());

  const absl::Status deeper =
      WithErrorInfoIf(WithErrorInfo(absl::NotFoundError("user 3 not found"), "USER_NOT_FOUND"),
                      absl::StatusCode::kNotFound, "RUN_NOT_FOUND");
  REQUIRE(GetErrorInfo(deeper).has_value());
  CHECK(GetErrorInfo(deeper)->reason() == "USER_NOT_FOUND");

  const absl::StatusOr<int> value =
      WithErrorInfoIf(absl::StatusOr<int>(5), absl::StatusCode::kNotFound, "RUN_NOT_FOUND");
  REQUIRE(value.ok());
  CHECK(*value == 5);
  const absl::StatusOr<int> error = WithErrorInfoIf(
      absl::StatusOr<int>(absl::NotFoundError("gone")), absl::StatusCode::kNotFound, "GONE");
  REQUIRE(GetErrorInfo(error.status()).has_value());
  CHECK(GetErrorInfo(error.status())->reason() == "GONE");
}

TEST_CASE("ToGrpcStatus sends the ErrorInfo as a google.rpc.Status in error_details") {
  const grpc::Status wire = ToGrpcStatus(WithErrorInfo(absl::NotFoundError("thought 42 not found"),
                                                       "THOUGHT_NOT_FOUND", {{"id", "42"}}));
  CHECK(wire.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(wire.error_message() == "thought 42 not found");
  google::rpc::Status details;
  REQUIRE(details.ParseFromString(wire.error_details()));
  CHECK(details.code() == static_cast<int>(grpc::StatusCode::NOT_FOUND));
  CHECK(details.message() == "thought 42 not found");
  REQUIRE(details.details_size() == 1);
  CHECK(details.details(0).type_url() == "type.googleapis.com/google.rpc.ErrorInfo");
  google::rpc::ErrorInfo info;
  REQUIRE(details.details(0).UnpackTo(&info));
  CHECK(info.reason() == "THOUGHT_NOT_FOUND");
  CHECK(info.domain() == "spine");
  CHECK(Metadata(info) == std::map<std::string, std::string>{{"id", "42"}});
}

TEST_CASE("a status without an ErrorInfo goes on the wire without error_details") {
  CHECK(ToGrpcStatus(absl::NotFoundError("x")).error_details().empty());
}

TEST_CASE("ToGrpcStatus then FromGrpcStatus keeps code, message, reason and metadata") {
  const absl::Status original = WithErrorInfo(absl::PermissionDeniedError("not yours: \xC3\xA9"),
                                              "NOT_OWNER", {{"resource", "thoughts/9"}});
  const absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  CHECK(back.code() == absl::StatusCode::kPermissionDenied);
  CHECK(back.message() == "not yours: \xC3\xA9");
  const std::optional<google::rpc::ErrorInfo> info = GetErrorInfo(back);
  REQUIRE(info.has_value());
  CHECK(info->reason() == "NOT_OWNER");
  CHECK(info->domain() == "spine");
  CHECK(Metadata(*info) == std::map<std::string, std::string>{{"resource", "thoughts/9"}});
  CHECK(back == original);
}

TEST_CASE("garbage error_details convert without a reason and keep code and message") {
  const std::string garbage = GENERATE(std::string("\xff\xff\xff\xff"), std::string("\x0a\x05zz"),
                                       std::string("not a proto at all"));
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "thought 1 not found", garbage));
  CHECK(back.code() == absl::StatusCode::kNotFound);
  CHECK(back.message() == "thought 1 not found");
  CHECK_FALSE(GetErrorInfo(back).has_value());
}

TEST_CASE("details whose Any is not a parseable ErrorInfo give no reason") {
  google::rpc::Status details;
  details.set_code(5);
  google::protobuf::Any* wrong_type = details.add_details();
  wrong_type->set_type_url("type.googleapis.com/google.rpc.RetryInfo");
  wrong_type->set_value("");
  google::protobuf::Any* bad_bytes = details.add_details();
  bad_bytes->set_type_url("type.googleapis.com/google.rpc.ErrorInfo");
  bad_bytes->set_value("\xff\xff\xff");
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, "x", details.SerializeAsString()));
  CHECK(back.code() == absl::StatusCode::kNotFound);
  CHECK_FALSE(GetErrorInfo(back).has_value());
}

TEST_CASE("an ErrorInfo from a peer keeps its own domain") {
  google::rpc::ErrorInfo info;
  info.set_reason("quotaExceeded");
  info.set_domain("example.com");
  google::rpc::Status details;
  details.set_code(8);
  details.add_details()->PackFrom(info);
  const absl::Status back = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down", details.SerializeAsString()));
  REQUIRE(GetErrorInfo(back).has_value());
  CHECK(GetErrorInfo(back)->reason() == "quotaExceeded");
  CHECK(GetErrorInfo(back)->domain() == "example.com");
}

}  // namespace
}  // namespace spine::rpc
