// audit, backup (spine-storage), bus (spine-tasks' broker) and status (every service).
#include <future>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "libs/rpc/error_info.h"
#include "spine/v1/common.grpc.pb.h"
#include "spine/v1/storage.grpc.pb.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/context.h"

namespace spine::spinectl {
namespace {

using spine::v1::EventBus;
using spine::v1::StorageService;

// RFC 3339 ("2026-12-07T16:00:00Z"), or a duration before now ("90m", "24h").
absl::StatusOr<google::protobuf::Timestamp> ParseWhen(const std::string& text,
                                                      const std::string& what) {
  absl::Time time;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, text, &time, &error)) {
    absl::Duration ago;
    if (!absl::ParseDuration(text, &ago)) {
      return UsageError(
          absl::StrCat(what, " ", text, ": neither an RFC 3339 time nor a duration (e.g. 24h)"));
    }
    time = absl::Now() - ago;
  }
  google::protobuf::Timestamp timestamp;
  timestamp.set_seconds(absl::ToUnixSeconds(time));
  return timestamp;
}

absl::Status PrintPageHint(Context& context, const std::string& token) {
  if (context.printer().format() == Format::kTable && !token.empty()) {
    context.err() << "more: --page-token " << token << "\n";
  }
  return absl::OkStatus();
}

absl::Status AuditList(Context& context, const Args& args) {
  spine::v1::ListAuditEventsRequest request;
  request.set_actor(args.Get("actor").value_or(""));
  request.set_action(args.Get("action").value_or(""));
  if (auto since = args.Get("since")) {
    absl::StatusOr<google::protobuf::Timestamp> start = ParseWhen(*since, "--since");
    if (!start.ok()) return start.status();
    *request.mutable_start_time() = *start;
  }
  if (auto until = args.Get("until")) {
    absl::StatusOr<google::protobuf::Timestamp> end = ParseWhen(*until, "--until");
    if (!end.ok()) return end.status();
    *request.mutable_end_time() = *end;
  }
  absl::StatusOr<int32_t> page_size = ParseCount(args.Get("page-size"), "--page-size");
  if (!page_size.ok()) return page_size.status();
  request.set_page_size(*page_size);
  request.set_page_token(args.Get("page-token").value_or(""));
  spine::v1::ListAuditEventsResponse response;
  if (absl::Status status = context.Unary(Service::kStorage, &StorageService::Stub::ListAuditEvents,
                                          request, &response);
      !status.ok()) {
    return status;
  }
  Table table{{"id", "time", "actor", "service", "action", "target", "outcome"}, {}};
  std::vector<std::string> ids;
  for (const spine::v1::AuditEvent& event : response.events()) {
    table.rows.push_back({std::to_string(event.id()), FormatTime(event.create_time()),
                          event.actor(), event.service(), event.action(), event.target(),
                          event.outcome()});
    ids.push_back(std::to_string(event.id()));
  }
  if (absl::Status printed = context.printer().Print(response, table, ids); !printed.ok()) {
    return printed;
  }
  return PrintPageHint(context, response.next_page_token());
}

absl::Status BusQueues(Context& context, const Args& /*args*/) {
  spine::v1::ListQueuesResponse response;
  if (absl::Status status = context.Unary(Service::kTasks, &EventBus::Stub::ListQueues,
                                          spine::v1::ListQueuesRequest(), &response);
      !status.ok()) {
    return status;
  }
  Table table{{"queue", "depth", "in flight", "dead letters", "oldest ms"}, {}};
  std::vector<std::string> names;
  for (const spine::v1::QueueStats& queue : response.queues()) {
    table.rows.push_back({queue.queue(), std::to_string(queue.depth()),
                          std::to_string(queue.in_flight()), std::to_string(queue.dead_letters()),
                          std::to_string(queue.oldest_undelivered_age_ms())});
    names.push_back(queue.queue());
  }
  return context.printer().Print(response, table, names);
}

absl::Status BusDeadLetters(Context& context, const Args& args) {
  spine::v1::ListDeadLettersRequest request;
  request.set_queue(args.positional()[0]);
  absl::StatusOr<int32_t> page_size = ParseCount(args.Get("page-size"), "--page-size");
  if (!page_size.ok()) return page_size.status();
  request.set_page_size(*page_size);
  request.set_page_token(args.Get("page-token").value_or(""));
  spine::v1::ListDeadLettersResponse response;
  if (absl::Status status =
          context.Unary(Service::kTasks, &EventBus::Stub::ListDeadLetters, request, &response);
      !status.ok()) {
    return status;
  }
  Table table{{"message id", "attempts", "dead since", "publisher", "last error"}, {}};
  std::vector<std::string> ids;
  for (const spine::v1::DeadLetter& letter : response.dead_letters()) {
    table.rows.push_back({letter.message().message_id(), std::to_string(letter.attempts()),
                          FormatTime(letter.dead_time()), letter.message().publisher(),
                          Truncate(letter.last_error(), 60)});
    ids.push_back(letter.message().message_id());
  }
  if (absl::Status printed = context.printer().Print(response, table, ids); !printed.ok()) {
    return printed;
  }
  return PrintPageHint(context, response.next_page_token());
}

absl::Status BusReplay(Context& context, const Args& args) {
  spine::v1::ReplayDeadLettersRequest request;
  request.set_queue(args.positional()[0]);
  for (size_t i = 1; i < args.positional().size(); ++i) {
    request.add_message_ids(args.positional()[i]);
  }
  if (request.message_ids_size() == 0 && !args.Has("all")) {
    return UsageError("name the message ids to replay, or give --all");
  }
  spine::v1::ReplayDeadLettersResponse response;
  if (absl::Status status =
          context.Unary(Service::kTasks, &EventBus::Stub::ReplayDeadLetters, request, &response);
      !status.ok()) {
    return status;
  }
  const Table table = KeyValueTable({{"replayed", std::to_string(response.replayed())}});
  return context.printer().Print(response, table, {std::to_string(response.replayed())});
}

absl::Status BackupStart(Context& context, const Args& args) {
  spine::v1::BackupDatabaseRequest request;
  request.set_file_name(args.Get("name").value_or(
      absl::FormatTime("spine-%Y%m%dT%H%M%SZ.db", absl::Now(), absl::UTCTimeZone())));
  spine::v1::BackupDatabaseResponse response;
  if (absl::Status status = context.Unary(Service::kStorage, &StorageService::Stub::BackupDatabase,
                                          request, &response);
      !status.ok()) {
    return status;
  }
  const Table table = KeyValueTable(
      {{"file", response.file_name()}, {"size", absl::StrCat(response.size_bytes(), " bytes")}});
  return context.printer().Print(response, table, {response.file_name()});
}

absl::Status BackupList(Context& context, const Args& /*args*/) {
  spine::v1::ListBackupsResponse response;
  if (absl::Status status = context.Unary(Service::kStorage, &StorageService::Stub::ListBackups,
                                          spine::v1::ListBackupsRequest(), &response);
      !status.ok()) {
    return status;
  }
  Table table{{"file", "size", "created"}, {}};
  std::vector<std::string> names;
  for (const spine::v1::BackupFile& file : response.backups()) {
    table.rows.push_back(
        {file.file_name(), std::to_string(file.size_bytes()), FormatTime(file.create_time())});
    names.push_back(file.file_name());
  }
  return context.printer().Print(response, table, names);
}

// Asks every service about itself, as the gateway's GET /status does, in the same shape.
absl::Status Status(Context& context, const Args& /*args*/) {
  spine::v1::PlatformStatus platform;
  Table table{{"service", "up", "version", "uptime s", "rss MB", "address / error"}, {}};
  std::vector<std::string> down;
  // All at once, so services that do not answer cost one deadline, not one each.
  std::vector<std::future<std::pair<grpc::Status, spine::v1::ServiceStatus>>> answers;
  answers.reserve(kAllServices.size());
  for (Service service : kAllServices) {
    answers.push_back(
        std::async(std::launch::async, [&context, channel = context.Channel(service)] {
          spine::v1::StatusService::Stub stub(channel);
          std::unique_ptr<grpc::ClientContext> call = context.NewCall("");
          spine::v1::ServiceStatus answer;
          grpc::Status status =
              stub.GetServiceStatus(call.get(), spine::v1::GetServiceStatusRequest(), &answer);
          return std::make_pair(std::move(status), std::move(answer));
        }));
  }
  for (Service service : kAllServices) {
    const auto [status, answer] = answers[static_cast<size_t>(service)].get();
    spine::v1::ServiceHealth& health = (*platform.mutable_services())[ServiceName(service)];
    const std::string& address = context.settings().address(service);
    if (!status.ok()) {
      down.push_back(ServiceName(service));
      table.rows.push_back({ServiceName(service), "no", "", "", "",
                            FormatError(FromGrpc(status, service, address)).substr(10)});
      continue;
    }
    health.set_up(answer.up());
    health.set_version(answer.version());
    health.set_rss_mb(answer.rss_mb());
    health.set_heap_used_mb(answer.heap_used_mb());
    health.set_uptime_seconds(answer.uptime_seconds());
    if (answer.has_db_conn()) platform.set_db_conn(answer.db_conn());
    if (answer.has_plugin_sandbox_alive()) {
      platform.set_plugin_sandbox_alive(answer.plugin_sandbox_alive());
    }
    if (answer.has_plugin_sandbox()) platform.set_plugin_sandbox(answer.plugin_sandbox());
    if (answer.has_queue_lag_ms()) {
      platform.set_queue_lag(static_cast<int32_t>(answer.queue_lag_ms()));
    }
    for (const auto& backend : answer.model_backends()) {
      if (!backend.reachable()) {
        (*platform.mutable_unreachable_models())[backend.model()] = backend.error();
      }
    }
    if (!answer.up()) down.push_back(ServiceName(service));
    table.rows.push_back({ServiceName(service), answer.up() ? "yes" : "no", answer.version(),
                          std::to_string(answer.uptime_seconds()),
                          absl::StrFormat("%.1f", answer.rss_mb()), address});
  }
  platform.set_status(down.empty() && platform.unreachable_models().empty() ? "ok" : "degraded");
  if (absl::Status printed = context.printer().Print(platform, table, {platform.status()});
      !printed.ok()) {
    return printed;
  }
  if (!down.empty()) {
    return rpc::WithErrorInfo(
        absl::UnavailableError(absl::StrCat(down.size(), " of ", kAllServices.size(),
                                            " services are down: ", absl::StrJoin(down, ", "))),
        "SERVICE_UNAVAILABLE");
  }
  return absl::OkStatus();
}

}  // namespace

void RegisterAdminCommands(Registry& registry) {
  std::vector<OptionSpec> audit_options = PagingOptions();
  audit_options.push_back({"actor", "ACTOR", "only events by this actor (a user id or service)"});
  audit_options.push_back({"action", "ACTION", "only this action, or a prefix written \"llm.*\""});
  audit_options.push_back({"since", "WHEN", "from this time (RFC 3339, or a duration ago: 24h)"});
  audit_options.push_back({"until", "WHEN", "before this time (same forms)"});
  registry.DescribeGroup({"audit"}, "The audit log (admin)");
  registry.Add({{"audit", "list"},
                "",
                "List audit events, newest first (admin).",
                audit_options,
                0,
                0,
                AuditList});

  registry.DescribeGroup({"bus"}, "The event bus's queues and dead letters (admin)");
  registry.Add({{"bus", "queues"},
                "",
                "List the queues with their depth, in-flight and dead-letter counts.",
                {},
                0,
                0,
                BusQueues});
  registry.Add({{"bus", "dead-letters"},
                "QUEUE",
                "List a queue's dead letters, oldest first.",
                PagingOptions(),
                1,
                1,
                BusDeadLetters});
  registry.Add({{"bus", "replay"},
                "QUEUE [MESSAGE_ID...]",
                "Put dead letters back on their queue: the ones named, or --all.",
                {{"all", "", "every dead letter of the queue"}},
                1,
                1000,
                BusReplay});

  registry.DescribeGroup({"backup"}, "Database backups (admin)");
  registry.Add({{"backup", "start"},
                "",
                "Back the database up online into SPINE_DATA_DIR/backups/.",
                {{"name", "FILE", "the backup's file name (default: spine-<time>.db)"}},
                0,
                0,
                BackupStart});
  registry.Add({{"backup", "list"}, "", "List the backups, newest first.", {}, 0, 0, BackupList});

  registry.Add({{"status"},
                "",
                "Ask every service whether it is up (no login needed); exit 24\n"
                "(UNAVAILABLE) when one is not.",
                {},
                0,
                0,
                Status});
}

}  // namespace spine::spinectl
