#include "libs/bus/handled_ids.h"

#include <algorithm>

namespace spine::bus {

HandledIds::HandledIds(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

bool HandledIds::Contains(const std::string& message_id) const { return ids_.contains(message_id); }

void HandledIds::Insert(const std::string& message_id) {
  if (!ids_.insert(message_id).second) return;
  order_.push_back(message_id);
  while (order_.size() > capacity_) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace spine::bus
