#include "libs/bus/step_protocol.h"

#include <catch2/catch.hpp>

#include "libs/rpc/error_info.h"

namespace spine::bus {
namespace {

TEST_CASE("a step's error keeps its code, message, reason and the lines of its logs") {
  const spine::v1::RunError error = StepErrorOf(
      rpc::WithErrorInfo(absl::InternalError("plugin 'chatty' threw"), "PLUGIN_ERROR",
                         {{"plugin", "chatty"}, {"logs", "looking for input.text\nnot found"}}));
  CHECK(error.code() == "INTERNAL");
  CHECK(error.message() == "plugin 'chatty' threw");
  CHECK(error.reason() == "PLUGIN_ERROR");
  REQUIRE(error.logs_size() == 2);
  CHECK(error.logs(0) == "looking for input.text");
  CHECK(error.logs(1) == "not found");
}

TEST_CASE("a step's error without ErrorInfo or logs has no reason and no log lines") {
  const spine::v1::RunError bare = StepErrorOf(absl::DeadlineExceededError("late"));
  CHECK(bare.code() == "DEADLINE_EXCEEDED");
  CHECK(bare.reason().empty());
  CHECK(bare.logs().empty());
  const spine::v1::RunError no_logs =
      StepErrorOf(rpc::WithErrorInfo(absl::UnavailableError("down"), "PLUGIN_UNAVAILABLE"));
  CHECK(no_logs.reason() == "PLUGIN_UNAVAILABLE");
  CHECK(no_logs.logs().empty());
}

}  // namespace
}  // namespace spine::bus
