#include "services/tasks/pipeline/template.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "libs/core/status.h"
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

// The value's compact JSON size, strings counted as their bytes and quotes (escapes not
// counted); stops counting once beyond `bound`, so a huge value costs no more than that.
int64_t JsonSize(const Value& value, int64_t bound) {
  switch (value.kind_case()) {
    case Value::kStringValue:
      return static_cast<int64_t>(value.string_value().size()) + 2;
    case Value::kBoolValue:
      return value.bool_value() ? 4 : 5;
    case Value::kNumberValue: {
      // As protobuf prints it: the shortest of %.15g and %.17g that reads back the same.
      std::string text = absl::StrFormat("%.15g", value.number_value());
      double back = 0;
      if (!absl::SimpleAtod(text, &back) || back != value.number_value()) {
        text = absl::StrFormat("%.17g", value.number_value());
      }
      return static_cast<int64_t>(text.size());
    }
    case Value::kListValue: {
      int64_t size = 2 + std::max(0, value.list_value().values_size() - 1);
      for (const Value& item : value.list_value().values()) {
        if (size > bound) break;
        size += JsonSize(item, bound - size);
      }
      return size;
    }
    case Value::kStructValue: {
      int64_t size = 2 + std::max(0, static_cast<int>(value.struct_value().fields_size()) - 1);
      for (const auto& [key, item] : value.struct_value().fields()) {
        if (size > bound) break;
        size += static_cast<int64_t>(key.size()) + 3 + JsonSize(item, bound - size);
      }
      return size;
    }
    default:
      return 4;  // null
  }
}

absl::Status TooLarge(const std::string& field, absl::string_view what, int64_t limit) {
  return rpc::WithErrorInfo(absl::InvalidArgumentError(absl::StrCat(field, ": ", what)),
                            "TEMPLATE_OUTPUT_TOO_LARGE",
                            {{"field", field}, {"limit", absl::StrCat(limit)}});
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

struct TemplateRenderer::Place {
  const Place* parent = nullptr;
  absl::string_view key;  // the root's field name, or an object key
  int index = -1;         // in a list

  std::string Format() const {
    if (parent == nullptr) return std::string(key);
    if (index >= 0) return absl::StrCat(parent->Format(), "[", index, "]");
    // A key is the user's; a long one is cut so the message stays readable.
    constexpr size_t kMaxKey = 64;
    return absl::StrCat(parent->Format(), ".", key.substr(0, kMaxKey),
                        key.size() > kMaxKey ? "..." : "");
  }
};

TemplateRenderer::TemplateRenderer(const Value& context, RenderLimits limits)
    : context_(context), limits_(limits) {}

absl::StatusOr<Value> TemplateRenderer::Render(const Value& value, absl::string_view field) {
  Value out;
  SPINE_RETURN_IF_ERROR(Walk(value, Place{.parent = nullptr, .key = field, .index = -1}, &out));
  return out;
}

absl::StatusOr<std::string> TemplateRenderer::RenderText(absl::string_view text,
                                                         absl::string_view field) {
  std::string out;
  SPINE_RETURN_IF_ERROR(Text(text, Place{.parent = nullptr, .key = field, .index = -1}, &out));
  return out;
}

absl::Status TemplateRenderer::Measure(const Value& value, absl::string_view field) {
  return Walk(value, Place{.parent = nullptr, .key = field, .index = -1}, nullptr);
}

absl::Status TemplateRenderer::MeasureText(absl::string_view text, absl::string_view field) {
  return Text(text, Place{.parent = nullptr, .key = field, .index = -1}, nullptr);
}

absl::Status TemplateRenderer::Fits(int64_t value_bytes, const Place& place) const {
  if (value_bytes > limits_.max_value_bytes) {
    return TooLarge(place.Format(),
                    absl::StrCat("rendered value exceeds ", limits_.max_value_bytes, " bytes"),
                    limits_.max_value_bytes);
  }
  if (total_ + value_bytes > limits_.max_total_bytes) {
    return TooLarge(
        place.Format(),
        absl::StrCat("rendered output exceeds ", limits_.max_total_bytes, " bytes in all"),
        limits_.max_total_bytes);
  }
  return absl::OkStatus();
}

absl::Status TemplateRenderer::Text(absl::string_view text, const Place& place, std::string* out) {
  // Never more than one byte beyond what could still fit is measured.
  const int64_t room = std::min(limits_.max_value_bytes, limits_.max_total_bytes - total_) + 1;
  int64_t length = 0;  // of the rendered text so far
  auto add_literal = [&](absl::string_view literal) -> absl::Status {
    SPINE_RETURN_IF_ERROR(Fits(length + static_cast<int64_t>(literal.size()), place));
    length += static_cast<int64_t>(literal.size());
    if (out != nullptr) absl::StrAppend(out, literal);
    return absl::OkStatus();
  };
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
    SPINE_RETURN_IF_ERROR(add_literal(text.substr(at, open - at)));
    at = close + kClose.size();
    const Value* found = Lookup(context_, *path);
    if (found == nullptr) {
      if (out == nullptr) continue;  // measuring: not known yet, counts as nothing
      return Resolve(context_, *path).status();
    }
    if (found->has_string_value()) {
      SPINE_RETURN_IF_ERROR(add_literal(found->string_value()));
      continue;
    }
    // Measured before it is printed, so a huge value is never turned into text.
    const int64_t estimate = JsonSize(*found, room);
    SPINE_RETURN_IF_ERROR(Fits(length + estimate, place));
    if (out == nullptr) {
      length += estimate;
    } else {
      SPINE_RETURN_IF_ERROR(add_literal(CompactJson(*found)));  // its escapes counted too
    }
  }
  SPINE_RETURN_IF_ERROR(add_literal(text.substr(at)));
  total_ += length;
  return absl::OkStatus();
}

absl::Status TemplateRenderer::Walk(const Value& value, const Place& place, Value* out) {
  if (value.has_string_value()) {
    std::optional<TemplatePath> whole = WholeValueTemplate(value.string_value());
    if (!whole) {
      std::string* text = nullptr;
      if (out != nullptr) text = out->mutable_string_value();
      return Text(value.string_value(), place, text);
    }
    const Value* found = Lookup(context_, *whole);
    if (found == nullptr) {
      if (out == nullptr) return absl::OkStatus();  // measuring: not known yet
      return Resolve(context_, *whole).status();
    }
    const int64_t room = std::min(limits_.max_value_bytes, limits_.max_total_bytes - total_) + 1;
    const int64_t bytes = found->has_string_value()
                              ? static_cast<int64_t>(found->string_value().size())
                              : JsonSize(*found, room);
    SPINE_RETURN_IF_ERROR(Fits(bytes, place));
    total_ += bytes;
    if (out != nullptr) *out = *found;
    return absl::OkStatus();
  }
  if (value.has_list_value()) {
    auto* list = out == nullptr ? nullptr : out->mutable_list_value();
    int index = 0;
    for (const Value& item : value.list_value().values()) {
      SPINE_RETURN_IF_ERROR(Walk(item, Place{.parent = &place, .key = {}, .index = index++},
                                 list == nullptr ? nullptr : list->add_values()));
    }
    return absl::OkStatus();
  }
  if (value.has_struct_value()) {
    auto* fields = out == nullptr ? nullptr : out->mutable_struct_value()->mutable_fields();
    for (const auto& [key, item] : value.struct_value().fields()) {
      SPINE_RETURN_IF_ERROR(Walk(item, Place{.parent = &place, .key = key, .index = -1},
                                 fields == nullptr ? nullptr : &(*fields)[key]));
    }
    return absl::OkStatus();
  }
  if (out != nullptr) *out = value;
  return absl::OkStatus();
}

absl::StatusOr<Value> RenderTemplate(const Value& value, const Value& context,
                                     const RenderLimits& limits, absl::string_view field) {
  return TemplateRenderer(context, limits).Render(value, field);
}

absl::StatusOr<std::string> RenderText(absl::string_view text, const Value& context,
                                       const RenderLimits& limits, absl::string_view field) {
  return TemplateRenderer(context, limits).RenderText(text, field);
}

std::string CompactJson(const Value& value) {
  std::string json;
  // Printing a Value cannot fail: it holds only JSON.
  (void)google::protobuf::util::MessageToJsonString(value, &json);
  return json;
}

}  // namespace spine::tasks
