// Schema migrations of the SQLite adapter.
#include "services/storage/sqlite/migrations.h"

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include "services/storage/sqlite/sqlite_adapter.h"
#include "services/storage/sqlite/sqlite_connection.h"
#include "tests/support/child_process.h"

namespace spine::storage {
namespace {

int Version(const std::string& path) {
  auto connection = SqliteConnection::Open(path, false);
  REQUIRE(connection.ok());
  auto version = SchemaVersion(**connection);
  REQUIRE(version.ok());
  return *version;
}

}  // namespace

TEST_CASE("migrations number their versions from 1 without gaps") {
  const auto& migrations = AllMigrations();
  REQUIRE(!migrations.empty());
  for (size_t i = 0; i < migrations.size(); ++i)
    CHECK(migrations[i].version == static_cast<int>(i) + 1);
}

TEST_CASE("an empty database and one at every earlier version migrate to the latest") {
  const auto& migrations = AllMigrations();
  const int latest = migrations.back().version;
  for (size_t applied = 0; applied <= migrations.size(); ++applied) {
    spine::testing::TempDir dir;
    const std::string path = dir.path() + "/spine.db";
    {
      auto connection = SqliteConnection::Open(path, false);
      REQUIRE(connection.ok());
      const std::vector<Migration> prefix(migrations.begin(),
                                          migrations.begin() + static_cast<long>(applied));
      REQUIRE(Migrate(**connection, prefix).ok());
    }
    INFO("starting from version " << applied);
    CHECK(Version(path) == static_cast<int>(applied));
    auto adapter = SqliteAdapter::Open(path, 1);
    REQUIRE(adapter.ok());
    CHECK(Version(path) == latest);
    CHECK((*adapter)->Ping().ok());
  }
}

TEST_CASE("reopening a migrated database changes nothing and keeps its rows") {
  spine::testing::TempDir dir;
  const std::string path = dir.path() + "/spine.db";
  int64_t id = 0;
  {
    auto adapter = SqliteAdapter::Open(path, 1);
    REQUIRE(adapter.ok());
    Thought thought;
    thought.user_id = 1;
    thought.text = "persisted";
    auto stored = (*adapter)->InsertThought(thought);
    REQUIRE(stored.ok());
    id = stored->id;
  }
  auto adapter = SqliteAdapter::Open(path, 1);
  REQUIRE(adapter.ok());
  auto fetched = (*adapter)->GetThought(1, id);
  REQUIRE(fetched.ok());
  CHECK(fetched->text == "persisted");
}

TEST_CASE("a database from a newer schema version is refused") {
  spine::testing::TempDir dir;
  const std::string path = dir.path() + "/spine.db";
  REQUIRE(SqliteAdapter::Open(path, 1).ok());
  {
    auto connection = SqliteConnection::Open(path, false);
    REQUIRE(connection.ok());
    REQUIRE((*connection)
                ->Exec("INSERT INTO schema_migrations VALUES (999, 'from the future', 0)")
                .ok());
  }
  auto adapter = SqliteAdapter::Open(path, 1);
  REQUIRE(!adapter.ok());
  CHECK(adapter.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(adapter.status().message()), Catch::Contains("999"));
}

TEST_CASE("the database runs in WAL mode with foreign keys on") {
  spine::testing::TempDir dir;
  const std::string path = dir.path() + "/spine.db";
  auto adapter = SqliteAdapter::Open(path, 1);
  REQUIRE(adapter.ok());
  auto connection = SqliteConnection::Open(path, false);
  REQUIRE(connection.ok());
  auto journal = (*connection)->Prepare("PRAGMA journal_mode");
  REQUIRE(journal.ok());
  REQUIRE((*journal)->Step().value());
  CHECK((*journal)->ColumnText(0) == "wal");
  auto keys = (*connection)->Prepare("PRAGMA foreign_keys");
  REQUIRE(keys.ok());
  REQUIRE((*keys)->Step().value());
  CHECK((*keys)->ColumnInt(0) == 1);
}

}  // namespace spine::storage

namespace spine::storage {

TEST_CASE("an online backup is a complete database that opens on its own") {
  spine::testing::TempDir dir;
  auto adapter = SqliteAdapter::Open(dir.path() + "/spine.db", 1);
  REQUIRE(adapter.ok());
  Thought thought;
  thought.user_id = 3;
  thought.text = "backed up";
  thought.tags = {"b"};
  auto stored = (*adapter)->InsertThought(thought);
  REQUIRE(stored.ok());
  REQUIRE((*adapter)->Backup(dir.path() + "/copy.db").ok());
  // A second backup to the same file is refused rather than overwriting it.
  CHECK(!(*adapter)->Backup(dir.path() + "/copy.db").ok());

  auto copy = SqliteAdapter::Open(dir.path() + "/copy.db", 1);
  REQUIRE(copy.ok());
  auto fetched = (*copy)->GetThought(3, stored->id);
  REQUIRE(fetched.ok());
  CHECK(*fetched == *stored);
  CHECK(Version(dir.path() + "/copy.db") == AllMigrations().back().version);
}

}  // namespace spine::storage

namespace spine::storage {

TEST_CASE("the database itself refuses to update or delete audit events") {
  spine::testing::TempDir dir;
  const std::string path = dir.path() + "/spine.db";
  auto adapter = SqliteAdapter::Open(path, 1);
  REQUIRE(adapter.ok());
  REQUIRE((*adapter)
              ->AppendAuditEvent({.create_micros = 1,
                                  .actor = "1",
                                  .service = "storage",
                                  .action = "storage.backup",
                                  .outcome = "ok",
                                  .details_json = "{}"})
              .ok());
  auto connection = SqliteConnection::Open(path, false);
  REQUIRE(connection.ok());
  CHECK(!(*connection)->Exec("UPDATE audit_events SET outcome = 'denied'").ok());
  CHECK(!(*connection)->Exec("DELETE FROM audit_events").ok());
  auto events = (*adapter)->ListAuditEvents({});
  REQUIRE(events.ok());
  REQUIRE(events->size() == 1);
  CHECK(events->front().outcome == "ok");
}

}  // namespace spine::storage
