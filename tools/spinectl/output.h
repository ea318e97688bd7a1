// How spinectl prints: aligned tables for people, the proto JSON mapping (--json) or bare ids
// (--quiet) for scripts, and errors as `spinectl: <message> (<gRPC code>, <reason>)`.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace spine::spinectl {

enum class Format { kTable, kJson, kQuiet };

struct Table {
  std::vector<std::string> headers;
  std::vector<std::vector<std::string>> rows;
};

// Columns padded to their widest cell (counted in code points), two spaces apart, headers in
// capitals; a cell's line breaks and tabs become spaces so each row stays one line.
std::string RenderTable(const Table& table);

// A two-column KEY  VALUE table, for one object.
Table KeyValueTable(const std::vector<std::pair<std::string, std::string>>& fields);

// The proto JSON mapping of `message` on one line (fields at their default values included, so a
// script finds every key).
absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message);

// Writes one result in the chosen format: the table, the message as JSON, or the ids one a line.
class Printer {
 public:
  Printer(Format format, std::ostream& out) : format_(format), out_(out) {}
  Format format() const { return format_; }
  absl::Status Print(const google::protobuf::Message& message, const Table& table,
                     const std::vector<std::string>& ids) const;
  std::ostream& out() const { return out_; }

 private:
  Format format_;
  std::ostream& out_;
};

// `spinectl: <message> (<CODE>, <REASON>)`, or `(<CODE>)` when the error has no reason.
std::string FormatError(const absl::Status& status);

// The documented exit code (docs/spinectl.md): 0 for OK, 2 for a usage error, otherwise 10 plus
// the gRPC code (e.g. 15 NOT_FOUND, 24 UNAVAILABLE, 26 UNAUTHENTICATED).
int ExitCode(const absl::Status& status);

// Text helpers for table cells.
std::string JoinTags(const google::protobuf::RepeatedPtrField<std::string>& tags);
std::string Truncate(const std::string& text, size_t max_code_points);

}  // namespace spine::spinectl
