// How SQLite's result codes reach callers: a full disk is a 503 the client can act on (retry
// later, tell the operator), named DISK_FULL, not a 429 that blames the caller's rate.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "libs/rpc/error_info.h"
#include "services/storage/sqlite/sqlite_connection.h"
#include "tests/support/child_process.h"

namespace spine::storage {
namespace {

std::string Reason(const absl::Status& status) {
  const auto info = rpc::GetErrorInfo(status);
  return info.has_value() ? info->reason() : "";
}

TEST_CASE("a write that finds the database full is UNAVAILABLE with reason DISK_FULL") {
  spine::testing::TempDir dir;
  auto connection = SqliteConnection::Open(dir.path() + "/full.db", false);
  REQUIRE(connection.ok());
  REQUIRE((*connection)->Exec("CREATE TABLE t (x BLOB)").ok());
  // SQLite answers SQLITE_FULL once the file would pass max_page_count, as it does on ENOSPC.
  REQUIRE((*connection)->Exec("PRAGMA max_page_count = 8").ok());
  auto insert = (*connection)->Prepare("INSERT INTO t (x) VALUES (?1)");
  REQUIRE(insert.ok());
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    (*insert)->BindBlob(1, std::string(4096, 'x'));
    status = (*insert)->Run();
    (*insert)->Reset();
  }
  INFO(status);
  REQUIRE(!status.ok());
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(Reason(status) == "DISK_FULL");
  CHECK(status.message().find("disk full") != absl::string_view::npos);
}

TEST_CASE("SQLITE_FULL is DISK_FULL; other codes keep their mapping") {
  CHECK(Reason(SqliteError(SQLITE_FULL, "database step")) == "DISK_FULL");
  CHECK(SqliteError(SQLITE_FULL, "x").code() == absl::StatusCode::kUnavailable);
  CHECK(SqliteError(SQLITE_BUSY, "x").code() == absl::StatusCode::kUnavailable);
  CHECK(Reason(SqliteError(SQLITE_BUSY, "x")).empty());
  CHECK(SqliteError(SQLITE_CONSTRAINT, "x").code() == absl::StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace spine::storage
