// The command groups of spinectl; each file registers its own commands into the table.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "tools/spinectl/cli.h"

namespace spine::spinectl {

void RegisterSessionCommands(Registry& registry);  // login, logout, whoami, users
void RegisterThoughtCommands(Registry& registry);
void RegisterLlmCommands(Registry& registry);
void RegisterPluginCommands(Registry& registry);
void RegisterTaskCommands(Registry& registry);   // pipelines, runs
void RegisterAdminCommands(Registry& registry);  // audit, bus, backup, status

// A positive id from a command-line word (`what` names it in the error).
absl::StatusOr<int64_t> ParseId(const std::string& word, const std::string& what);
absl::StatusOr<int32_t> ParseCount(const std::optional<std::string>& word, const std::string& what);
// JSON text into `message` (the proto JSON mapping, unknown fields refused).
absl::Status ParseJson(const std::string& json, google::protobuf::Message* message,
                       const std::string& what);
// RFC 3339, e.g. 2026-12-07T16:00:00Z; empty when unset.
std::string FormatTime(const google::protobuf::Timestamp& time);
// A JSON value on one line, for table cells.
std::string ValueText(const google::protobuf::Value& value);

// The paging options every list command has.
inline const std::vector<OptionSpec>& PagingOptions() {
  static const std::vector<OptionSpec> options = {
      {"page-size", "N", "at most N items per page"},
      {"page-token", "TOKEN", "continue from a previous page's next page token"},
  };
  return options;
}

}  // namespace spine::spinectl
