// FakeAuditSink: an AuditSink that keeps every event, for tests that check what was audited.
#pragma once

#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "libs/audit/audit_sink.h"

namespace spine::llm {

class FakeAuditSink final : public audit::AuditSink {
 public:
  void Record(spine::v1::AuditEvent event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  std::vector<spine::v1::AuditEvent> events() const {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<spine::v1::AuditEvent> events_;
};

}  // namespace spine::llm
