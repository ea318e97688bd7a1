// GroupCommit: the writer connection, with concurrent writes sharing one transaction and one
// fsync (group commit).
//
// The writer runs with synchronous=FULL, so every COMMIT waits for an fsync of the WAL; under
// concurrent writes that wait, not the SQL, bounds throughput. Writes that arrive while a commit
// is in flight queue up, and the next caller to find the writer free runs them all in one
// transaction. Each write runs inside its own SAVEPOINT, so a write that fails is rolled back
// alone and the others still commit. A caller returns only after the COMMIT holding its write
// has returned: OK still means durable, as with one transaction per write.
//
// The queue is bounded by the callers themselves (each waits on its one entry), and a batch by
// `max_batch`. Thread-safe.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "services/storage/sqlite/sqlite_connection.h"

namespace spine::storage {

class GroupCommit {
 public:
  // One write: SQL on the writer connection. An error rolls back this write alone.
  using Write = absl::FunctionRef<absl::Status(SqliteConnection&)>;

  // Counts since construction: `writes` run in `transactions` commits (or attempts).
  struct Stats {
    int64_t transactions = 0;
    int64_t writes = 0;
  };

  GroupCommit(std::unique_ptr<SqliteConnection> writer, int max_batch);
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  // Runs `write` in a transaction, possibly shared with writes queued meanwhile, and returns
  // once that transaction has committed or failed: the write's own error, the error that lost
  // the transaction, or OK (committed and durable).
  absl::Status Run(Write write);

  Stats stats() const;
  // Writes waiting for a transaction (not counting a batch being committed).
  size_t queued() const;

 private:
  struct Pending {
    explicit Pending(Write w) : write(w) {}
    Write write;
    absl::Status outcome;
    bool done = false;
  };

  // Runs `batch` in as few transactions as it takes (one, unless SQLite rolls a transaction
  // back on its own, e.g. on a full disk) and sets each outcome. Called by one leader at a time,
  // without mu_.
  int64_t CommitBatch(const std::vector<Pending*>& batch);

  const int max_batch_;
  // Used only by the leader of the moment (committing_ says there is one).
  std::unique_ptr<SqliteConnection> writer_;

  mutable absl::Mutex mu_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  bool committing_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

// The status of a write's result, for GroupCommit::Write bodies that return a value.
inline const absl::Status& StatusOf(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

}  // namespace spine::storage
