#include "services/tasks/tasks_config.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace spine::tasks {
namespace {

constexpr int64_t kMaxQueueMessages = 10'000'000;
constexpr int64_t kMaxQueueBytes = int64_t{4} << 30;

// SPINE_BUS_QUEUE_LIMITS: "name=maxMessages:maxBytes,..." overrides for single queues.
void ReadQueueLimits(ConfigReader& reader, bus::BrokerOptions& options) {
  const std::string text = reader.String("SPINE_BUS_QUEUE_LIMITS", "");
  for (absl::string_view entry : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const std::vector<std::string> name_limits = absl::StrSplit(entry, '=');
    std::vector<std::string> limits;
    if (name_limits.size() == 2) limits = absl::StrSplit(name_limits[1], ':');
    bus::QueueLimits parsed;
    if (limits.size() != 2 || !absl::SimpleAtoi(limits[0], &parsed.max_messages) ||
        !absl::SimpleAtoi(limits[1], &parsed.max_bytes) || parsed.max_messages < 1 ||
        parsed.max_messages > kMaxQueueMessages || parsed.max_bytes < 1 ||
        parsed.max_bytes > kMaxQueueBytes || !bus::ValidateQueueName(name_limits[0]).ok()) {
      reader.AddProblem(absl::StrCat("SPINE_BUS_QUEUE_LIMITS=", text, ": '", entry,
                                     "' is not queue=maxMessages:maxBytes with a valid queue "
                                     "name and positive bounds"));
      continue;
    }
    options.queue_limits[name_limits[0]] = parsed;
  }
}

bus::BrokerOptions ReadBusOptions(ConfigReader& reader) {
  bus::BrokerOptions options;
  options.default_limits.max_messages =
      reader.Int("SPINE_BUS_MAX_MESSAGES", 10000, 1, kMaxQueueMessages);
  options.default_limits.max_bytes =
      reader.Int("SPINE_BUS_MAX_BYTES", int64_t{64} << 20, 1024, kMaxQueueBytes);
  ReadQueueLimits(reader, options);
  options.max_queues = static_cast<int>(reader.Int("SPINE_BUS_MAX_QUEUES", 256, 1, 100000));
  options.dedupe_window =
      absl::Milliseconds(reader.Int("SPINE_BUS_DEDUPE_WINDOW_MS", 600000, 0, 86'400'000));
  options.max_dedupe_entries = reader.Int("SPINE_BUS_DEDUPE_MAX_ENTRIES", 100000, 1, 10'000'000);
  options.initial_backoff =
      absl::Milliseconds(reader.Int("SPINE_BUS_BACKOFF_INITIAL_MS", 200, 1, 3'600'000));
  options.backoff_multiplier = reader.Double("SPINE_BUS_BACKOFF_MULTIPLIER", 2.0, 1.0, 100.0);
  options.max_backoff =
      absl::Milliseconds(reader.Int("SPINE_BUS_BACKOFF_MAX_MS", 60000, 1, 3'600'000));
  options.jitter = reader.Double("SPINE_BUS_BACKOFF_JITTER", 0.2, 0.0, 0.99);
  options.max_deliver = static_cast<int>(reader.Int("SPINE_BUS_MAX_DELIVER", 5, 1, 1000));
  options.max_dead_letters = reader.Int("SPINE_BUS_MAX_DEAD_LETTERS", 10000, 1, 1'000'000);
  options.default_ack_deadline =
      absl::Milliseconds(reader.Int("SPINE_BUS_ACK_DEADLINE_MS", 30000, 10, 3'600'000));
  options.max_ack_deadline =
      absl::Milliseconds(reader.Int("SPINE_BUS_MAX_ACK_DEADLINE_MS", 600000, 10, 3'600'000));
  options.max_credits = static_cast<int>(reader.Int("SPINE_BUS_MAX_CREDITS", 1000, 1, 100000));
  if (options.max_backoff < options.initial_backoff) {
    reader.AddProblem("SPINE_BUS_BACKOFF_MAX_MS: must be at least SPINE_BUS_BACKOFF_INITIAL_MS");
  }
  if (options.max_ack_deadline < options.default_ack_deadline) {
    reader.AddProblem("SPINE_BUS_MAX_ACK_DEADLINE_MS: must be at least SPINE_BUS_ACK_DEADLINE_MS");
  }
  return options;
}

}  // namespace

TasksConfig ReadTasksConfig(ConfigReader& reader) {
  TasksConfig config;
  config.common = ReadCommonConfig(reader, "tasks");
  config.bus = ReadBusOptions(reader);
  // A delivery carries the message plus its envelope, and must fit one gRPC message.
  config.bus.max_message_bytes = std::max<int64_t>(1, config.common.max_message_bytes - 4096);
  // Runs and pipelines live in spine-storage, reached with this token; the bus consumers of
  // spine-tasks (step results, executor advertisements) use it too.
  config.service_token = reader.SecretOrFile("SPINE_SERVICE_TOKEN", 32);
  config.user_max_runs = reader.Int("SPINE_TASKS_USER_MAX_RUNS", 16, 1, 100000);
  config.engine_threads = reader.Int("SPINE_TASKS_ENGINE_THREADS", 4, 1, 64);
  config.render_limits.max_value_bytes =
      reader.Int("SPINE_TASKS_RENDER_MAX_VALUE_BYTES", int64_t{1} << 20, 1024, int64_t{1} << 30);
  config.render_limits.max_total_bytes =
      reader.Int("SPINE_TASKS_RENDER_MAX_BYTES", int64_t{2} << 20, 1024, int64_t{1} << 30);
  if (config.render_limits.max_total_bytes < config.render_limits.max_value_bytes) {
    reader.AddProblem(
        "SPINE_TASKS_RENDER_MAX_BYTES: must be at least SPINE_TASKS_RENDER_MAX_VALUE_BYTES");
  }
  if (config.render_limits.max_total_bytes > config.common.max_message_bytes / 2) {
    reader.AddProblem(
        absl::StrCat("SPINE_TASKS_RENDER_MAX_BYTES=", config.render_limits.max_total_bytes,
                     ": must be at most half of SPINE_GRPC_MAX_MESSAGE_BYTES (",
                     config.common.max_message_bytes / 2,
                     "): a rendered output is stored in one message with its run"));
  }
  return config;
}

}  // namespace spine::tasks
