#include "libs/rpc/status_convert.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace spine::rpc {
namespace {

TEST_CASE("every absl error code maps to the gRPC code of the same name and back") {
  const auto [absl_code, grpc_code] = GENERATE(table<absl::StatusCode, grpc::StatusCode>({
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  }));
  INFO(absl::StatusCodeToString(absl_code));
  const std::string message = "something went wrong: \"x\" \xC3\xA9";

  const grpc::Status to_grpc = ToGrpcStatus(absl::Status(absl_code, message));
  CHECK_FALSE(to_grpc.ok());
  CHECK(to_grpc.error_code() == grpc_code);
  CHECK(to_grpc.error_message() == message);

  const absl::Status from_grpc = FromGrpcStatus(grpc::Status(grpc_code, message));
  CHECK(from_grpc.code() == absl_code);
  CHECK(from_grpc.message() == message);

  CHECK(FromGrpcStatus(ToGrpcStatus(absl::Status(absl_code, message))) ==
        absl::Status(absl_code, message));
}

TEST_CASE("an error with an empty message converts with an empty message") {
  const grpc::Status to_grpc = ToGrpcStatus(absl::Status(absl::StatusCode::kInternal, ""));
  CHECK(to_grpc.error_code() == grpc::StatusCode::INTERNAL);
  CHECK(to_grpc.error_message().empty());
  const absl::Status from_grpc = FromGrpcStatus(grpc::Status(grpc::StatusCode::NOT_FOUND, ""));
  CHECK(from_grpc.code() == absl::StatusCode::kNotFound);
  CHECK(from_grpc.message().empty());
}

TEST_CASE("OK converts to OK in both directions") {
  const grpc::Status to_grpc = ToGrpcStatus(absl::OkStatus());
  CHECK(to_grpc.ok());
  CHECK(to_grpc.error_code() == grpc::StatusCode::OK);
  CHECK(to_grpc.error_message().empty());

  const absl::Status from_grpc = FromGrpcStatus(grpc::Status::OK);
  CHECK(from_grpc.ok());
  CHECK(from_grpc == absl::OkStatus());
}

}  // namespace
}  // namespace spine::rpc
