#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/cord.h"
#include "libs/core/status.h"

namespace spine {
namespace {

// An error with a payload, so "unchanged" covers more than code and message.
absl::Status DistinctError() {
  absl::Status status = absl::FailedPreconditionError("disk is read-only");
  status.SetPayload("type.googleapis.com/spine.test", absl::Cord("payload"));
  return status;
}

struct Counters {
  int evaluated = 0;
  int reached_end = 0;
};

absl::Status Step(Counters& counters, absl::Status result) {
  ++counters.evaluated;
  return result;
}

absl::Status RunReturnIfError(Counters& counters, absl::Status first, absl::Status second) {
  SPINE_RETURN_IF_ERROR(Step(counters, std::move(first)));
  SPINE_RETURN_IF_ERROR(Step(counters, std::move(second)));
  ++counters.reached_end;
  return absl::OkStatus();
}

TEST_CASE("SPINE_RETURN_IF_ERROR continues past OK statuses") {
  Counters counters;
  CHECK(RunReturnIfError(counters, absl::OkStatus(), absl::OkStatus()).ok());
  CHECK(counters.evaluated == 2);
  CHECK(counters.reached_end == 1);
}

TEST_CASE("SPINE_RETURN_IF_ERROR returns the first error unchanged and stops there") {
  Counters counters;
  const absl::Status status = RunReturnIfError(counters, DistinctError(), absl::InternalError("x"));
  CHECK(status == DistinctError());
  CHECK(counters.evaluated == 1);
  CHECK(counters.reached_end == 0);
}

TEST_CASE("SPINE_RETURN_IF_ERROR returns a later error after earlier steps succeed") {
  Counters counters;
  const absl::Status status = RunReturnIfError(counters, absl::OkStatus(), DistinctError());
  CHECK(status == DistinctError());
  CHECK(counters.evaluated == 2);
  CHECK(counters.reached_end == 0);
}

TEST_CASE("SPINE_RETURN_IF_ERROR works in a function returning StatusOr") {
  const auto run = [](const absl::Status& step) -> absl::StatusOr<int> {
    SPINE_RETURN_IF_ERROR(step);
    return 7;
  };
  CHECK(run(absl::OkStatus()).value() == 7);
  CHECK(run(DistinctError()).status() == DistinctError());
}

absl::StatusOr<int> MakeInt(Counters& counters, bool ok, int value) {
  ++counters.evaluated;
  if (!ok) return DistinctError();
  return value;
}

absl::StatusOr<std::unique_ptr<std::string>> MakePtr(bool ok, std::string text) {
  if (!ok) return absl::NotFoundError("no such pointer");
  return std::make_unique<std::string>(std::move(text));
}

absl::StatusOr<int> SumTwo(Counters& counters, bool first_ok, bool second_ok) {
  SPINE_ASSIGN_OR_RETURN(const int a, MakeInt(counters, first_ok, 20));
  SPINE_ASSIGN_OR_RETURN(int b, MakeInt(counters, second_ok, 22));
  ++counters.reached_end;
  return a + b;
}

TEST_CASE("SPINE_ASSIGN_OR_RETURN assigns into declarations, twice in one function") {
  Counters counters;
  const absl::StatusOr<int> sum = SumTwo(counters, true, true);
  REQUIRE(sum.ok());
  CHECK(*sum == 42);
  CHECK(counters.evaluated == 2);
  CHECK(counters.reached_end == 1);
}

TEST_CASE("SPINE_ASSIGN_OR_RETURN propagates the first error unchanged") {
  Counters counters;
  const absl::StatusOr<int> sum = SumTwo(counters, false, true);
  CHECK(sum.status() == DistinctError());
  CHECK(counters.evaluated == 1);
  CHECK(counters.reached_end == 0);
}

TEST_CASE("SPINE_ASSIGN_OR_RETURN propagates a later error unchanged") {
  Counters counters;
  const absl::StatusOr<int> sum = SumTwo(counters, true, false);
  CHECK(sum.status() == DistinctError());
  CHECK(counters.evaluated == 2);
  CHECK(counters.reached_end == 0);
}

TEST_CASE("SPINE_ASSIGN_OR_RETURN assigns into an existing variable") {
  const auto run = [](bool ok, int& out) -> absl::Status {
    Counters counters;
    SPINE_ASSIGN_OR_RETURN(out, MakeInt(counters, ok, 5));
    return absl::OkStatus();
  };
  int out = -1;
  CHECK(run(true, out).ok());
  CHECK(out == 5);
  out = -1;
  CHECK(run(false, out) == DistinctError());
  CHECK(out == -1);  // untouched on error
}

TEST_CASE("SPINE_ASSIGN_OR_RETURN moves a move-only value") {
  const auto run = [](bool ok) -> absl::StatusOr<std::string> {
    SPINE_ASSIGN_OR_RETURN(std::unique_ptr<std::string> first, MakePtr(ok, "hello"));
    std::unique_ptr<std::string> second;
    SPINE_ASSIGN_OR_RETURN(second, MakePtr(true, "world"));
    REQUIRE(first != nullptr);
    REQUIRE(second != nullptr);
    return *first + " " + *second;
  };
  const absl::StatusOr<std::string> joined = run(true);
  REQUIRE(joined.ok());
  CHECK(*joined == "hello world");
  const absl::StatusOr<std::string> failed = run(false);
  CHECK(failed.status() == absl::NotFoundError("no such pointer"));
}

TEST_CASE("SPINE_ASSIGN_OR_RETURN evaluates its expression exactly once") {
  Counters counters;
  const auto run = [&counters]() -> absl::Status {
    SPINE_ASSIGN_OR_RETURN(int value, MakeInt(counters, true, 3));
    CHECK(value == 3);
    return absl::OkStatus();
  };
  CHECK(run().ok());
  CHECK(counters.evaluated == 1);
}

}  // namespace
}  // namespace spine
