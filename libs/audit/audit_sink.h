// AuditSink: where a service hands the events of its audit trail (the log itself lives in
// spine-storage). Record never blocks and never fails the caller's operation: a sink that cannot
// keep an event must log and count the loss itself.
#pragma once

#include "spine/v1/storage.pb.h"

namespace spine::audit {

class AuditSink {
 public:
  virtual ~AuditSink() = default;
  // Takes `event` for writing; its id, time and service are filled in by storage.
  virtual void Record(spine::v1::AuditEvent event) = 0;
};

}  // namespace spine::audit
