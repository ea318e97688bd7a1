// The figures spine-tasks adds to its status probe: each bus queue (depth, in flight, dead
// letters, the age of its oldest undelivered message) and the largest of those ages as the queue
// lag, the runs in progress, and the audit events lost.
#pragma once

#include "libs/audit/storage_audit_writer.h"
#include "libs/bus/broker.h"
#include "services/tasks/engine/task_engine.h"
#include "spine/v1/common.pb.h"

namespace spine::tasks {

void ReportStatus(const bus::Broker& broker, const TaskEngine& engine,
                  const audit::StorageAuditWriter& audit, spine::v1::ServiceStatus* status);

}  // namespace spine::tasks
