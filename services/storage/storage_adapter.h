// StorageAdapter: the contract between the DataAccessService and a database.
//
// Adapters store and fetch exactly what they are given: validation, ownership rules and page
// tokens live above them. Every operation is scoped by user id, so an adapter can never hand one
// user's row to another. Implementations are thread-safe. SqliteAdapter is the real one; the
// contract test suite in tests/unit/services/storage runs against it and an in-memory fake.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "services/storage/thought.h"

namespace spine::storage {

class StorageAdapter {
 public:
  virtual ~StorageAdapter() = default;

  // Stores a new thought (id ignored) and returns it with its assigned id.
  virtual absl::StatusOr<Thought> InsertThought(const Thought& thought) = 0;
  // NOT_FOUND unless the thought exists and belongs to `user_id`.
  virtual absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id) = 0;
  // Applies `patch` atomically; NOT_FOUND as for GetThought.
  virtual absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                                const ThoughtPatch& patch) = 0;
  // NOT_FOUND as for GetThought.
  virtual absl::Status DeleteThought(int64_t user_id, int64_t id) = 0;
  // At most `query.limit` thoughts, newest first, matching every filter set in `query`.
  virtual absl::StatusOr<std::vector<Thought>> ListThoughts(const ThoughtQuery& query) = 0;

  // A cheap round trip to the database (the status probe's dbConn).
  virtual absl::Status Ping() = 0;
};

}  // namespace spine::storage
