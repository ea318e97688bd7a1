#include "services/tasks/tasks_status.h"

#include <algorithm>

namespace spine::tasks {

void ReportStatus(const bus::Broker& broker, const TaskEngine& engine,
                  const audit::StorageAuditWriter& audit, spine::v1::ServiceStatus* status) {
  absl::Duration lag = absl::ZeroDuration();
  for (const bus::QueueStats& stats : broker.Stats()) {
    spine::v1::BusQueue* queue = status->add_bus_queues();
    queue->set_queue(stats.queue);
    queue->set_depth(stats.depth);
    queue->set_in_flight(stats.in_flight);
    queue->set_dead_letters(stats.dead_letters);
    queue->set_oldest_undelivered_ms(absl::ToInt64Milliseconds(stats.oldest_undelivered_age));
    lag = std::max(lag, stats.oldest_undelivered_age);
  }
  status->set_queue_lag_ms(absl::ToInt64Milliseconds(lag));
  status->set_active_runs(engine.active_runs());
  status->set_audit_write_failures(audit.Stats().failed + audit.Stats().dropped);
}

}  // namespace spine::tasks
