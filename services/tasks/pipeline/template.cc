#include "services/tasks/pipeline/template.h"

#include <cstddef>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "libs/rpc/error_info.h"

namespace spine::tasks {
namespace {

using google::protobuf::Value;

constexpr absl::string_view kOpen = "{{";
constexpr absl::string_view kClose = "}}";

absl::StatusOr<TemplatePath> ParsePath(absl::string_view reference) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(reference);
  if (trimmed.empty()) return absl::InvalidArgumentError("template '{{}}' names nothing");
  TemplatePath path = absl::StrSplit(trimmed, '.');
  for (const std::string& segment : path) {
    if (segment.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("template '{{", trimmed, "}}' has an empty path segment"));
    }
  }
  return path;
}

// The value at `path` in `context`, or null.
const Value* Lookup(const Value& context, const TemplatePath& path) {
  const Value* current = &context;
  for (const std::string& segment : path) {
    if (current->has_struct_value()) {
      const auto& fields = current->struct_value().fields();
      const auto it = fields.find(segment);
      if (it == fields.end()) return nullptr;
      current = &it->second;
    } else if (current->has_list_value()) {
      size_t index = 0;
      if (!absl::SimpleAtoi(segment, &index) ||
          index >= static_cast<size_t>(current->list_value().values_size())) {
        return nullptr;
      }
      current = &current->list_value().values(static_cast<int>(index));
    } else {
      return nullptr;
    }
  }
  return current;
}

absl::StatusOr<const Value*> Resolve(const Value& context, const TemplatePath& path) {
  const Value* found = Lookup(context, path);
  if (found == nullptr) {
    return rpc::WithErrorInfo(absl::FailedPreconditionError(absl::StrCat(
                                  "template path '", absl::StrJoin(path, "."), "' is not there")),
                              "TEMPLATE_PATH_MISSING", {{"path", absl::StrJoin(path, ".")}});
  }
  return found;
}

std::string AsText(const Value& value) {
  return value.has_string_value() ? value.string_value() : CompactJson(value);
}

// When `text` is exactly one template, its path.
std::optional<TemplatePath> WholeValueTemplate(absl::string_view text) {
  if (!absl::StartsWith(text, kOpen) || !absl::EndsWith(text, kClose) || text.size() < 4) {
    return std::nullopt;
  }
  const absl::string_view inner = text.substr(2, text.size() - 4);
  if (absl::StrContains(inner, kOpen) || absl::StrContains(inner, kClose)) return std::nullopt;
  absl::StatusOr<TemplatePath> path = ParsePath(inner);
  if (!path.ok()) return std::nullopt;
  return *std::move(path);
}

absl::Status CollectTemplates(const Value& value, std::vector<TemplatePath>& out) {
  if (value.has_string_value()) {
    absl::StatusOr<std::vector<TemplatePath>> found = FindTemplates(value.string_value());
    if (!found.ok()) return found.status();
    for (TemplatePath& path : *found) out.push_back(std::move(path));
  } else if (value.has_list_value()) {
    for (const Value& item : value.list_value().values()) {
      if (absl::Status status = CollectTemplates(item, out); !status.ok()) return status;
    }
  } else if (value.has_struct_value()) {
    for (const auto& [key, item] : value.struct_value().fields()) {
      if (absl::Status status = CollectTemplates(item, out); !status.ok()) return status;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<TemplatePath>> FindTemplates(absl::string_view text) {
  std::vector<TemplatePath> paths;
  size_t at = 0;
  while (true) {
    const size_t open = text.find(kOpen, at);
    if (open == absl::string_view::npos) return paths;
    const size_t close = text.find(kClose, open + kOpen.size());
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("template at character ", open, " has no closing '}}'"));
    }
    absl::StatusOr<TemplatePath> path = ParsePath(text.substr(open + 2, close - open - 2));
    if (!path.ok()) return path.status();
    paths.push_back(*std::move(path));
    at = close + kClose.size();
  }
}

absl::StatusOr<std::vector<TemplatePath>> FindTemplates(const Value& value) {
  std::vector<TemplatePath> paths;
  if (absl::Status status = CollectTemplates(value, paths); !status.ok()) return status;
  return paths;
}

absl::StatusOr<std::string> RenderText(absl::string_view text, const Value& context) {
  std::string out;
  size_t at = 0;
  while (true) {
    const size_t open = text.find(kOpen, at);
    if (open == absl::string_view::npos) break;
    const size_t close = text.find(kClose, open + kOpen.size());
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("template at character ", open, " has no closing '}}'"));
    }
    absl::StatusOr<TemplatePath> path = ParsePath(text.substr(open + 2, close - open - 2));
    if (!path.ok()) return path.status();
    absl::StatusOr<const Value*> found = Resolve(context, *path);
    if (!found.ok()) return found.status();
    absl::StrAppend(&out, text.substr(at, open - at), AsText(**found));
    at = close + kClose.size();
  }
  absl::StrAppend(&out, text.substr(at));
  return out;
}

absl::StatusOr<Value> RenderTemplate(const Value& value, const Value& context) {
  Value out;
  if (value.has_string_value()) {
    if (std::optional<TemplatePath> whole = WholeValueTemplate(value.string_value())) {
      absl::StatusOr<const Value*> found = Resolve(context, *whole);
      if (!found.ok()) return found.status();
      return **found;
    }
    absl::StatusOr<std::string> text = RenderText(value.string_value(), context);
    if (!text.ok()) return text.status();
    out.set_string_value(*std::move(text));
  } else if (value.has_list_value()) {
    auto* list = out.mutable_list_value();
    for (const Value& item : value.list_value().values()) {
      absl::StatusOr<Value> rendered = RenderTemplate(item, context);
      if (!rendered.ok()) return rendered.status();
      *list->add_values() = *std::move(rendered);
    }
  } else if (value.has_struct_value()) {
    auto* fields = out.mutable_struct_value()->mutable_fields();
    for (const auto& [key, item] : value.struct_value().fields()) {
      absl::StatusOr<Value> rendered = RenderTemplate(item, context);
      if (!rendered.ok()) return rendered.status();
      (*fields)[key] = *std::move(rendered);
    }
  } else {
    out = value;
  }
  return out;
}

std::string CompactJson(const Value& value) {
  std::string json;
  // Printing a Value cannot fail: it holds only JSON.
  (void)google::protobuf::util::MessageToJsonString(value, &json);
  return json;
}

}  // namespace spine::tasks
