#include "services/storage/sqlite/group_commit.h"

#include <utility>

namespace spine::storage {

GroupCommit::GroupCommit(std::unique_ptr<SqliteConnection> writer, int max_batch)
    : max_batch_(max_batch < 1 ? 1 : max_batch), writer_(std::move(writer)) {}

absl::Status GroupCommit::Run(Write write) {
  Pending mine(write);
  absl::MutexLock lock(&mu_);
  queue_.push_back(&mine);
  auto done_or_free = [&]()
                          ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return mine.done || !committing_; };
  for (;;) {
    mu_.Await(absl::Condition(&done_or_free));
    if (mine.done) return mine.outcome;
    // The writer is free and this write is still queued: lead the next batch, the queue's front
    // (which holds this write unless more than a batch waits ahead of it).
    committing_ = true;
    std::vector<Pending*> batch;
    while (!queue_.empty() && static_cast<int>(batch.size()) < max_batch_) {
      batch.push_back(queue_.front());
      queue_.pop_front();
    }
    mu_.Unlock();
    const int64_t transactions = CommitBatch(batch);
    mu_.Lock();
    for (Pending* pending : batch) pending->done = true;
    stats_.transactions += transactions;
    stats_.writes += static_cast<int64_t>(batch.size());
    committing_ = false;
  }
}

int64_t GroupCommit::CommitBatch(const std::vector<Pending*>& batch) {
  SqliteConnection& db = *writer_;
  int64_t transactions = 0;
  size_t next = 0;
  while (next < batch.size()) {
    ++transactions;
    if (absl::Status begin = db.Exec("BEGIN IMMEDIATE"); !begin.ok()) {
      for (; next < batch.size(); ++next) batch[next]->outcome = begin;
      break;
    }
    std::vector<Pending*> written;  // run and kept, waiting for the COMMIT
    bool lost = false;
    for (; next < batch.size() && !lost; ++next) {
      Pending& pending = *batch[next];
      absl::Status status = db.Exec("SAVEPOINT write");
      bool undone = db.in_transaction();  // a failed SAVEPOINT leaves nothing to undo
      if (status.ok()) {
        status = pending.write(db);
        if (status.ok()) status = db.Exec("RELEASE write");
        if (status.ok()) {
          pending.outcome = absl::OkStatus();
          written.push_back(&pending);
          continue;
        }
        // Undo this write alone.
        undone = db.in_transaction() && db.Exec("ROLLBACK TO write").ok() &&
                 db.Exec("RELEASE write").ok();
      }
      pending.outcome = status;
      if (!undone) {
        // SQLite ended the transaction on its own (or it cannot be undone in part): the writes
        // before this one in it are gone too and fail with the same cause; the rest of the
        // batch starts a new transaction.
        lost = true;
        for (Pending* earlier : written) earlier->outcome = status;
        written.clear();
        if (db.in_transaction()) (void)db.Exec("ROLLBACK");
      }
    }
    if (lost) continue;
    if (absl::Status commit = db.Exec("COMMIT"); !commit.ok()) {
      if (db.in_transaction()) (void)db.Exec("ROLLBACK");
      for (Pending* pending : written) pending->outcome = commit;
    }
  }
  return transactions;
}

size_t GroupCommit::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

GroupCommit::Stats GroupCommit::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace spine::storage
