// HandledIds: the consumer's bounded table of messageIds it has handled, so a redelivery of a
// handled message (its ack was lost with a broken stream, say) is acknowledged without running
// the handler again.
//
// Bounded by count: beyond `capacity` the id handled longest ago is forgotten first. A message
// redelivered after its id was forgotten runs again — at-least-once allows that; the capacity
// just has to cover the redeliveries a consumer sees in practice. Not thread-safe: the Consumer
// guards it.
#pragma once

#include <cstddef>
#include <deque>
#include <string>

#include "absl/container/flat_hash_set.h"

namespace spine::bus {

class HandledIds {
 public:
  // `capacity` >= 1 (0 is taken as 1).
  explicit HandledIds(size_t capacity);

  bool Contains(const std::string& message_id) const;
  // Remembers `message_id` (a no-op when it is already there, which keeps its age).
  void Insert(const std::string& message_id);
  size_t size() const { return order_.size(); }

 private:
  const size_t capacity_;
  absl::flat_hash_set<std::string> ids_;
  std::deque<std::string> order_;  // oldest first
};

}  // namespace spine::bus
