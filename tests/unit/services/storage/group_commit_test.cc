// GroupCommit: writes that queue while a commit is in flight share the next transaction, each
// write is still all-or-nothing, and no caller hears OK before the COMMIT holding its write.
// Each case holds the first write inside its transaction (a Notification) until the others have
// queued, so the batches are the same on every run.
#include "services/storage/sqlite/group_commit.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "services/storage/sqlite/sqlite_connection.h"
#include "tests/support/child_process.h"
#include "tests/support/poll.h"

namespace spine::storage {
namespace {

// A database with table t(x UNIQUE) and a child table whose foreign key is checked at COMMIT.
class Database {
 public:
  Database() : path_(dir_.path() + "/group.db") {
    auto writer = SqliteConnection::Open(path_, false);
    REQUIRE(writer.ok());
    REQUIRE((*writer)
                ->Exec("CREATE TABLE t (x INTEGER NOT NULL UNIQUE);"
                       "CREATE TABLE child (parent INTEGER NOT NULL REFERENCES t(x) "
                       "DEFERRABLE INITIALLY DEFERRED)")
                .ok());
    writes_ = std::make_unique<GroupCommit>(std::move(*writer), 64);
  }
  GroupCommit& writes() { return *writes_; }

  // The rows of t, as another connection sees them (committed data only).
  std::vector<int64_t> Committed() const {
    auto reader = SqliteConnection::Open(path_, true);
    REQUIRE(reader.ok());
    auto select = (*reader)->Prepare("SELECT x FROM t ORDER BY x");
    REQUIRE(select.ok());
    std::vector<int64_t> rows;
    for (;;) {
      absl::StatusOr<bool> row = (*select)->Step();
      REQUIRE(row.ok());
      if (!*row) break;
      rows.push_back((*select)->ColumnInt(0));
    }
    return rows;
  }

 private:
  spine::testing::TempDir dir_;
  std::string path_;
  std::unique_ptr<GroupCommit> writes_;
};

absl::Status Insert(SqliteConnection& db, int64_t x) {
  auto insert = db.Prepare("INSERT INTO t (x) VALUES (?1)");
  if (!insert.ok()) return insert.status();
  (*insert)->BindInt(1, x);
  return (*insert)->Run();
}

// Runs a write that inserts `first` and then holds its transaction open until released, so the
// writes started meanwhile queue behind it.
class HeldLeader {
 public:
  HeldLeader(GroupCommit& writes, int64_t first)
      : thread_([this, &writes, first] {
          outcome_ = writes.Run([&](SqliteConnection& db) {
            absl::Status status = Insert(db, first);
            inside_.Notify();
            release_.WaitForNotification();
            return status;
          });
        }) {
    inside_.WaitForNotification();
  }
  ~HeldLeader() {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (thread_.joinable()) thread_.join();
  }
  HeldLeader(const HeldLeader&) = delete;
  HeldLeader& operator=(const HeldLeader&) = delete;
  absl::Status Finish() {
    release_.Notify();
    thread_.join();
    return outcome_;
  }

 private:
  absl::Notification inside_;
  absl::Notification release_;
  absl::Status outcome_;
  std::thread thread_;
};

// Starts one thread per write, in order; returns once all of them are queued behind the held
// leader.
class QueuedWrites {
 public:
  using Body = std::function<absl::Status(SqliteConnection&)>;
  QueuedWrites(GroupCommit& writes, std::vector<Body> bodies)
      : bodies_(std::move(bodies)), outcomes_(bodies_.size()) {
    // One at a time, each queued before the next starts, so the queue holds them in order.
    for (size_t i = 0; i < bodies_.size(); ++i) {
      threads_.emplace_back([this, &writes, i] {
        outcomes_[i] = writes.Run([&](SqliteConnection& db) { return bodies_[i](db); });
      });
      REQUIRE(spine::testing::PollUntil([&] { return writes.queued() == i + 1; }));
    }
  }
  ~QueuedWrites() { Join(); }
  QueuedWrites(const QueuedWrites&) = delete;
  QueuedWrites& operator=(const QueuedWrites&) = delete;
  const std::vector<absl::Status>& Join() {
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    return outcomes_;
  }

 private:
  std::vector<Body> bodies_;
  std::vector<absl::Status> outcomes_;
  std::vector<std::thread> threads_;
};

QueuedWrites::Body InsertOf(int64_t x) {
  return [x](SqliteConnection& db) { return Insert(db, x); };
}

TEST_CASE("writes queued during a commit share the next transaction, and all are committed") {
  Database database;
  HeldLeader leader(database.writes(), 1);
  std::vector<QueuedWrites::Body> bodies;
  for (int64_t x = 2; x <= 11; ++x) bodies.push_back(InsertOf(x));
  QueuedWrites queued(database.writes(), bodies);
  // Nothing is visible before the leader's transaction commits, and nobody has been answered.
  CHECK(database.Committed().empty());
  REQUIRE(leader.Finish().ok());
  for (const absl::Status& outcome : queued.Join()) CHECK(outcome.ok());
  CHECK(database.Committed() == std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  const GroupCommit::Stats stats = database.writes().stats();
  CHECK(stats.writes == 11);
  CHECK(stats.transactions == 2);  // the leader's own, then one for the ten queued behind it
}

TEST_CASE("a write that fails is rolled back alone; the others in its transaction commit") {
  Database database;
  HeldLeader leader(database.writes(), 1);
  QueuedWrites queued(database.writes(),
                      {InsertOf(2),
                       // Writes a row, then fails: its row must not survive.
                       [](SqliteConnection& db) {
                         absl::Status status = Insert(db, 3);
                         if (!status.ok()) return status;
                         return absl::InvalidArgumentError("rejected after writing");
                       },
                       // A constraint error from SQLite itself.
                       InsertOf(1), InsertOf(4)});
  REQUIRE(leader.Finish().ok());
  const std::vector<absl::Status>& outcomes = queued.Join();
  CHECK(outcomes[0].ok());
  CHECK(outcomes[1].code() == absl::StatusCode::kInvalidArgument);
  CHECK(outcomes[2].code() == absl::StatusCode::kAlreadyExists);
  CHECK(outcomes[3].ok());
  CHECK(database.Committed() == std::vector<int64_t>{1, 2, 4});
  CHECK(database.writes().stats().transactions == 2);
}

TEST_CASE("a COMMIT that fails fails every write in the transaction, and the next one works") {
  Database database;
  HeldLeader leader(database.writes(), 1);
  QueuedWrites queued(
      database.writes(),
      {InsertOf(2),
       // A dangling deferred foreign key: the write succeeds, the COMMIT fails.
       [](SqliteConnection& db) { return db.Exec("INSERT INTO child VALUES (99)"); }, InsertOf(3)});
  REQUIRE(leader.Finish().ok());
  for (const absl::Status& outcome : queued.Join()) {
    INFO(outcome);
    CHECK(!outcome.ok());
  }
  CHECK(database.Committed() == std::vector<int64_t>{1});
  CHECK(database.writes().Run([](SqliteConnection& db) { return Insert(db, 5); }).ok());
  CHECK(database.Committed() == std::vector<int64_t>{1, 5});
}

TEST_CASE("a transaction SQLite ends on its own fails the writes before, and the rest go on") {
  Database database;
  HeldLeader leader(database.writes(), 1);
  QueuedWrites queued(database.writes(),
                      {InsertOf(2),
                       // As SQLite does on some I/O errors: the whole transaction is rolled back.
                       [](SqliteConnection& db) -> absl::Status {
                         (void)db.Exec("ROLLBACK");
                         return absl::UnavailableError("disk I/O error");
                       },
                       InsertOf(3), InsertOf(4)});
  REQUIRE(leader.Finish().ok());
  const std::vector<absl::Status>& outcomes = queued.Join();
  CHECK(outcomes[0].code() == absl::StatusCode::kUnavailable);  // its write was lost with it
  CHECK(outcomes[1].code() == absl::StatusCode::kUnavailable);
  CHECK(outcomes[2].ok());
  CHECK(outcomes[3].ok());
  CHECK(database.Committed() == std::vector<int64_t>{1, 3, 4});
  CHECK(database.writes().stats().transactions == 3);
}

TEST_CASE("many threads writing at once: every write committed exactly once") {
  Database database;
  constexpr int64_t kThreads = 8;
  constexpr int64_t kPerThread = 40;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  std::vector<int> failures(kThreads, 0);
  for (int64_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i = 0; i < kPerThread; ++i) {
        const int64_t x = t * kPerThread + i;
        if (!database.writes().Run([&](SqliteConnection& db) { return Insert(db, x); }).ok()) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int64_t t = 0; t < kThreads; ++t) CHECK(failures[t] == 0);
  const std::vector<int64_t> rows = database.Committed();
  REQUIRE(static_cast<int64_t>(rows.size()) == kThreads * kPerThread);
  for (size_t i = 0; i < rows.size(); ++i) CHECK(rows[i] == static_cast<int64_t>(i));
  CHECK(database.writes().stats().writes == kThreads * kPerThread);
}

TEST_CASE("the writer fsyncs every commit (synchronous=FULL); readers are read-only") {
  spine::testing::TempDir dir;
  auto writer = SqliteConnection::Open(dir.path() + "/sync.db", false);
  REQUIRE(writer.ok());
  auto pragma = (*writer)->Prepare("PRAGMA synchronous");
  REQUIRE(pragma.ok());
  absl::StatusOr<bool> row = (*pragma)->Step();
  REQUIRE(row.ok());
  REQUIRE(*row);
  CHECK((*pragma)->ColumnInt(0) == 2);  // FULL
}

}  // namespace
}  // namespace spine::storage
