#include "tools/spinectl/output.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"
#include "libs/rpc/error_info.h"

namespace spine::spinectl {
namespace {

size_t CodePoints(const std::string& text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r' || c == '\t'; }, ' ');
  return text;
}

std::string Upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

}  // namespace

std::string RenderTable(const Table& table) {
  std::vector<std::vector<std::string>> lines;
  std::vector<std::string> headers;
  for (const std::string& header : table.headers) headers.push_back(Upper(header));
  if (!headers.empty()) lines.push_back(headers);
  for (const auto& row : table.rows) {
    std::vector<std::string> cells;
    cells.reserve(row.size());
    for (const std::string& cell : row) cells.push_back(OneLine(cell));
    lines.push_back(std::move(cells));
  }
  std::vector<size_t> widths;
  for (const auto& line : lines) {
    if (widths.size() < line.size()) widths.resize(line.size(), 0);
    for (size_t i = 0; i < line.size(); ++i) widths[i] = std::max(widths[i], CodePoints(line[i]));
  }
  std::string out;
  for (const auto& line : lines) {
    std::string text;
    for (size_t i = 0; i < line.size(); ++i) {
      absl::StrAppend(&text, line[i]);
      if (i + 1 < line.size()) text.append(widths[i] - CodePoints(line[i]) + 2, ' ');
    }
    text.erase(text.find_last_not_of(' ') + 1);
    absl::StrAppend(&out, text, "\n");
  }
  return out;
}

Table KeyValueTable(const std::vector<std::pair<std::string, std::string>>& fields) {
  Table table;
  for (const auto& [key, value] : fields) table.rows.push_back({absl::StrCat(key, ":"), value});
  return table;
}

absl::StatusOr<std::string> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot print as JSON: ", std::string(status.message())));
  }
  return json;
}

absl::Status Printer::Print(const google::protobuf::Message& message, const Table& table,
                            const std::vector<std::string>& ids) const {
  switch (format_) {
    case Format::kJson: {
      absl::StatusOr<std::string> json = ToJson(message);
      if (!json.ok()) return json.status();
      out_ << *json << "\n";
      break;
    }
    case Format::kQuiet:
      for (const std::string& id : ids) out_ << id << "\n";
      break;
    case Format::kTable:
      out_ << RenderTable(table);
      break;
  }
  out_.flush();
  return absl::OkStatus();
}

std::string FormatError(const absl::Status& status) {
  std::string code = absl::StatusCodeToString(status.code());
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (info && !info->reason().empty()) absl::StrAppend(&code, ", ", info->reason());
  return absl::StrCat("spinectl: ", OneLine(std::string(status.message())), " (", code, ")");
}

int ExitCode(const absl::Status& status) {
  if (status.ok()) return 0;
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (info && info->reason() == "USAGE") return 2;
  return 10 + static_cast<int>(status.code());
}

std::string JoinTags(const google::protobuf::RepeatedPtrField<std::string>& tags) {
  return absl::StrJoin(tags, ",");
}

std::string Truncate(const std::string& text, size_t max_code_points) {
  if (CodePoints(text) <= max_code_points) return text;
  std::string out;
  size_t seen = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80 && ++seen > max_code_points - 1) break;
    out += c;
  }
  return out + "…";
}

}  // namespace spine::spinectl
