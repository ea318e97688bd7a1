// Output formats: aligned tables, the proto JSON mapping, ids only; the error line and exit codes.
#include "tools/spinectl/output.h"

#include <catch2/catch.hpp>
#include <sstream>

#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"
#include "spine/v1/storage.pb.h"

namespace spine::spinectl {
namespace {

TEST_CASE("tables align columns by code points, one line per row", "[spinectl][output]") {
  const Table table{{"id", "text"}, {{"1", "héllo"}, {"22", "two\nlines"}, {"333", ""}}};
  CHECK(RenderTable(table) ==
        "ID   TEXT\n"
        "1    héllo\n"
        "22   two lines\n"
        "333\n");
  CHECK(RenderTable(KeyValueTable({{"id", "7"}, {"username", "ada"}})) ==
        "id:        7\n"
        "username:  ada\n");
}

TEST_CASE("Truncate keeps at most N code points", "[spinectl][output]") {
  CHECK(Truncate("short", 10) == "short");
  CHECK(Truncate("ééééé", 3) == "éé…");
}

TEST_CASE("the printer writes a table, JSON or ids", "[spinectl][output]") {
  spine::v1::Thought thought;
  thought.set_id(42);
  thought.set_text("hi");
  thought.add_tags("a");
  thought.mutable_create_time()->set_seconds(1700000000);
  const Table table{{"id"}, {{"42"}}};

  std::ostringstream json_out;
  REQUIRE(Printer(Format::kJson, json_out).Print(thought, table, {"42"}).ok());
  const auto json = nlohmann::json::parse(json_out.str());
  CHECK(json["id"] == "42");  // int64 is a string in the proto JSON mapping
  CHECK(json["text"] == "hi");
  CHECK(json["tags"] == nlohmann::json::array({"a"}));
  CHECK(json["createdAt"] == "2023-11-14T22:13:20Z");  // json_name
  CHECK(json.contains("updatedAt") == false);          // unset messages are left out

  std::ostringstream quiet_out;
  REQUIRE(Printer(Format::kQuiet, quiet_out).Print(thought, table, {"42", "43"}).ok());
  CHECK(quiet_out.str() == "42\n43\n");

  std::ostringstream table_out;
  REQUIRE(Printer(Format::kTable, table_out).Print(thought, table, {"42"}).ok());
  CHECK(table_out.str() == "ID\n42\n");
}

TEST_CASE("JSON output includes fields at their defaults", "[spinectl][output]") {
  spine::v1::ListThoughtsResponse empty;
  auto json = ToJson(empty);
  REQUIRE(json.ok());
  const auto parsed = nlohmann::json::parse(*json);
  CHECK(parsed["thoughts"] == nlohmann::json::array());
  CHECK(parsed["nextPageToken"] == "");
}

TEST_CASE("errors print as message, code and reason", "[spinectl][output]") {
  const absl::Status with_reason =
      rpc::WithErrorInfo(absl::NotFoundError("thought 9 not found"), "THOUGHT_NOT_FOUND");
  CHECK(FormatError(with_reason) == "spinectl: thought 9 not found (NOT_FOUND, THOUGHT_NOT_FOUND)");
  CHECK(FormatError(absl::UnavailableError("down\nhard")) == "spinectl: down hard (UNAVAILABLE)");
}

TEST_CASE("exit codes: 0 ok, 2 usage, else 10 + the gRPC code", "[spinectl][output]") {
  CHECK(ExitCode(absl::OkStatus()) == 0);
  CHECK(ExitCode(rpc::WithErrorInfo(absl::InvalidArgumentError("x"), "USAGE")) == 2);
  CHECK(ExitCode(absl::InvalidArgumentError("x")) == 13);
  CHECK(ExitCode(absl::DeadlineExceededError("x")) == 14);
  CHECK(ExitCode(absl::NotFoundError("x")) == 15);
  CHECK(ExitCode(absl::PermissionDeniedError("x")) == 17);
  CHECK(ExitCode(absl::AbortedError("x")) == 20);
  CHECK(ExitCode(absl::UnavailableError("x")) == 24);
  CHECK(ExitCode(absl::UnauthenticatedError("x")) == 26);
}

}  // namespace
}  // namespace spine::spinectl
