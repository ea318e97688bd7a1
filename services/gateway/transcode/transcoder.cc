#include "services/gateway/transcode/transcoder.h"

#include <algorithm>

#include "absl/algorithm/container.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/json_util.h"
#include "libs/core/status.h"
#include "libs/core/utf8.h"
#include "nlohmann/json.hpp"
#include "services/gateway/transcode/path_template.h"

namespace spine::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using nlohmann::json;

// protobuf's JSON parser stops at 100 levels anyway; nothing valid needs more than this.
constexpr size_t kMaxJsonDepth = 64;
// Inside a google.protobuf.Struct/Value/ListValue every JSON level costs protobuf up to three
// message levels (Struct → fields entry → Value), and protobuf refuses to decode past 100: its
// JSON parser then fails with an internal "invalid protobuf output" that names nothing. Free-form
// JSON is held well under that, and refused by field name.
constexpr size_t kMaxFreeFormDepth = 24;

// The field named `name` by its JSON name or its proto name.
const FieldDescriptor* FindField(const Descriptor* message, absl::string_view name) {
  if (message == nullptr) return nullptr;
  const FieldDescriptor* field = message->FindFieldByName(std::string(name));
  if (field == nullptr) field = message->FindFieldByCamelcaseName(std::string(name));
  if (field == nullptr) {
    for (int i = 0; i < message->field_count(); ++i) {
      if (message->field(i)->json_name() == name) return message->field(i);
    }
  }
  return field;
}

// The JSON value of one text parameter for `field`: JSON literals for bools, the text as a
// string for everything else (the JSON mapping accepts quoted numbers, enum names, and the
// string forms of the well-known types), so the strict parser judges it.
absl::StatusOr<json> ParamValue(const FieldDescriptor* field, absl::string_view name,
                                const std::string& text) {
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_BOOL) {
    if (text == "true") return json(true);
    if (text == "false") return json(false);
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": '", text.substr(0, 64), "' is not true or false"));
  }
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
    case FieldDescriptor::CPPTYPE_INT64: {
      int64_t number = 0;
      if (!absl::SimpleAtoi(text, &number)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": '", text.substr(0, 64), "' is not an integer"));
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_UINT32:
    case FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t number = 0;
      if (!absl::SimpleAtoi(text, &number)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": '", text.substr(0, 64), "' is not a non-negative integer"));
      }
      break;
    }
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double number = 0;
      if (!absl::SimpleAtod(text, &number)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": '", text.substr(0, 64), "' is not a number"));
      }
      break;
    }
    default:
      break;
  }
  // Range checks (an int32 too large) are the JSON parser's.
  return json(text);
}

// Sets `value` at the dotted `name` inside `root`, descending by JSON names; repeated fields
// collect an array.
absl::Status SetParam(const Descriptor* message, json& root, absl::string_view name,
                      const std::string& text, bool from_path) {
  const std::vector<absl::string_view> parts = absl::StrSplit(name, '.');
  json* node = &root;
  const Descriptor* current = message;
  for (size_t i = 0; i < parts.size(); ++i) {
    const FieldDescriptor* field = FindField(current, parts[i]);
    if (field == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": no such field"));
    }
    const std::string key = field->json_name();
    const bool last = i + 1 == parts.size();
    if (!last) {
      if (field->type() != FieldDescriptor::TYPE_MESSAGE || field->is_repeated() ||
          IsTextParameterField(field)) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": no such field"));
      }
      json& child = (*node)[key];
      if (!child.is_object()) child = json::object();
      node = &child;
      current = field->message_type();
      continue;
    }
    if (!IsTextParameterField(field) || field->is_map()) {
      return absl::InvalidArgumentError(
          absl::StrCat(name, ": cannot be set from the ", from_path ? "path" : "query string"));
    }
    absl::StatusOr<json> value = ParamValue(field, name, text);
    if (!value.ok()) return value.status();
    if (field->is_repeated()) {
      json& list = (*node)[key];
      if (!list.is_array()) list = json::array();
      list.push_back(*std::move(value));
    } else if (!from_path && node->contains(key)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": given more than once"));
    } else {
      (*node)[key] = *std::move(value);
    }
  }
  return absl::OkStatus();
}

absl::Status CheckValue(const FieldDescriptor* field, const json& value, const std::string& where);

// How deeply a parsed JSON value nests arrays and objects (a scalar is 0).
size_t ParsedDepth(const json& value) {
  if (!value.is_structured()) return 0;
  size_t deepest = 0;
  for (const json& item : value) deepest = std::max(deepest, ParsedDepth(item));
  return deepest + 1;
}

// Free-form JSON (Struct, Value, ListValue) within kMaxFreeFormDepth levels.
absl::Status CheckFreeForm(const json& value, const std::string& where) {
  if (ParsedDepth(value) <= kMaxFreeFormDepth) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": nested deeper than ", kMaxFreeFormDepth, " levels"));
}

// Walks `object` against `message` so that a value of the wrong JSON type is refused by name:
// protobuf's own parser is lenient in places (a lone value for a repeated field). Unknown keys
// are left to protobuf, which names them.
absl::Status CheckObject(const Descriptor* message, const json& object, const std::string& where) {
  if (!object.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where.empty() ? "body" : where, ": expected a JSON object"));
  }
  for (const auto& [key, value] : object.items()) {
    const FieldDescriptor* field = FindField(message, key);
    if (field == nullptr || value.is_null()) continue;
    const std::string path = where.empty() ? key : absl::StrCat(where, ".", key);
    if (field->is_map()) {
      if (!value.is_object())
        return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON object"));
      const FieldDescriptor* map_value = field->message_type()->FindFieldByName("value");
      for (const auto& [map_key, item] : value.items()) {
        if (absl::Status status = CheckValue(map_value, item, absl::StrCat(path, ".", map_key));
            !status.ok()) {
          return status;
        }
      }
    } else if (field->is_repeated()) {
      if (!value.is_array())
        return absl::InvalidArgumentError(absl::StrCat(path, ": expected a JSON array"));
      for (size_t i = 0; i < value.size(); ++i) {
        if (absl::Status status = CheckValue(field, value[i], absl::StrCat(path, "[", i, "]"));
            !status.ok()) {
          return status;
        }
      }
    } else if (absl::Status status = CheckValue(field, value, path); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckValue(const FieldDescriptor* field, const json& value, const std::string& where) {
  auto expect = [&](bool ok, absl::string_view what) {
    return ok ? absl::OkStatus()
              : absl::InvalidArgumentError(absl::StrCat(where, ": expected ", what));
  };
  if (value.is_null()) return absl::OkStatus();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return expect(value.is_string(), "a string");
    case FieldDescriptor::CPPTYPE_BOOL:
      return expect(value.is_boolean(), "true or false");
    case FieldDescriptor::CPPTYPE_ENUM:
      return expect(value.is_string() || value.is_number_integer(), "an enum name");
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const std::string& type = field->message_type()->full_name();
      if (type == "google.protobuf.Value") return CheckFreeForm(value, where);
      if (type == "google.protobuf.Struct") {
        SPINE_RETURN_IF_ERROR(expect(value.is_object(), "a JSON object"));
        return CheckFreeForm(value, where);
      }
      if (type == "google.protobuf.ListValue") {
        SPINE_RETURN_IF_ERROR(expect(value.is_array(), "a JSON array"));
        return CheckFreeForm(value, where);
      }
      if (type == "google.protobuf.Timestamp" || type == "google.protobuf.Duration" ||
          type == "google.protobuf.FieldMask") {
        return expect(value.is_string(), "a string");
      }
      if (IsTextParameterField(field) || type == "google.protobuf.Any") return absl::OkStatus();
      return CheckObject(field->message_type(), value, where);
    }
    default:  // numbers may be quoted in proto3 JSON
      return expect(value.is_number() || value.is_string(), "a number");
  }
}

// How deeply `body` nests arrays and objects, brackets inside strings aside. Measured before
// parsing because printing a parsed document recurses once per level: a 100 KB body of nested
// brackets would otherwise exhaust the stack.
size_t NestingDepth(absl::string_view body) {
  size_t depth = 0;
  size_t deepest = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\')
        ++i;  // skip the escaped character
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// Echoes at most 64 bytes of a client's key, escaped.
std::string Quoted(absl::string_view text) {
  return absl::StrCat("'", absl::CEscape(text.substr(0, 64)), text.size() > 64 ? "...'" : "'");
}

// Whether a body's `said` value is the path segment `text` written as JSON ("42" or 42 for 42).
bool SameParamValue(const json& said, const std::string& text) {
  if (said.is_string()) return said.get_ref<const std::string&>() == text;
  if (said.is_number() || said.is_boolean()) return said.dump() == text;
  return false;
}

// RFC 8259 plus what API.md's strict parsing adds: nlohmann checks the grammar and UTF-8, and
// on its own would let a leading byte-order mark pass (it skips one), keep the last of duplicate
// keys and decode \u0000 into a NUL that travels on into the services. All three are refused,
// naming the key.
absl::StatusOr<json> ParseStrictJson(absl::string_view body) {
  if (absl::StartsWith(body, "\xEF\xBB\xBF")) {
    return absl::InvalidArgumentError("body: starts with a byte-order mark; send plain UTF-8");
  }
  // The keys seen in each object still open, innermost last; the key being read in each.
  std::vector<absl::flat_hash_set<std::string>> seen;
  std::vector<std::string> current;
  std::string problem;
  auto strict = [&](int /*depth*/, json::parse_event_t event, json& parsed) {
    if (!problem.empty()) return true;
    switch (event) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        current.emplace_back();
        break;
      case json::parse_event_t::object_end:
        seen.pop_back();
        current.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& key = parsed.get_ref<const std::string&>();
        if (absl::StrContains(key, '\0')) {
          problem = absl::StrCat("body: key ", Quoted(key), " contains a NUL character (\\u0000)");
        } else if (!seen.back().insert(key).second) {
          problem = absl::StrCat("body: duplicate key ", Quoted(key));
        }
        current.back() = key;
        break;
      }
      case json::parse_event_t::value:
        if (parsed.is_string() && absl::StrContains(parsed.get_ref<const std::string&>(), '\0')) {
          problem =
              absl::StrCat(current.empty() || current.back().empty() ? "body" : current.back(),
                           ": contains a NUL character (\\u0000)");
        }
        break;
      default:
        break;
    }
    return true;
  };
  json parsed = json::parse(body, strict, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return absl::InvalidArgumentError("body: malformed JSON or invalid UTF-8");
  }
  if (!problem.empty()) return absl::InvalidArgumentError(problem);
  return parsed;
}

// protobuf's parse errors start with the status code's name; the message after it names the
// field.
std::string CleanParseError(absl::string_view message) {
  return std::string(absl::StripAsciiWhitespace(message));
}

}  // namespace

bool IsTextParameterField(const FieldDescriptor* field) {
  if (field->type() != FieldDescriptor::TYPE_MESSAGE) return true;
  const std::string& name = field->message_type()->full_name();
  return name == "google.protobuf.Timestamp" || name == "google.protobuf.Duration" ||
         name == "google.protobuf.FieldMask" ||
         (absl::StartsWith(name, "google.protobuf.") && absl::EndsWith(name, "Value") &&
          name != "google.protobuf.Value");
}

absl::StatusOr<QueryParams> ParseQueryString(absl::string_view query) {
  QueryParams params;
  for (absl::string_view part : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    if (params.size() == kMaxQueryParams) {
      return absl::InvalidArgumentError(
          absl::StrCat("query: more than ", kMaxQueryParams, " parameters"));
    }
    const size_t eq = part.find('=');
    const absl::string_view raw_key = part.substr(0, eq);
    const absl::string_view raw_value =
        eq == absl::string_view::npos ? absl::string_view() : part.substr(eq + 1);
    absl::StatusOr<std::string> key = PercentDecode(raw_key, /*plus_is_space=*/true);
    if (!key.ok() || key->empty()) {
      return absl::InvalidArgumentError("query: malformed parameter name");
    }
    absl::StatusOr<std::string> value = PercentDecode(raw_value, /*plus_is_space=*/true);
    if (!value.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(key->substr(0, 64), ": ", value.status().message()));
    }
    params.emplace_back(*std::move(key), *std::move(value));
  }
  return params;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
    const Route& route, const PathBindings& bindings, const QueryParams& query,
    absl::string_view body) {
  const Descriptor* input = route.method->input_type();
  json root = json::object();
  if (!route.body.empty()) {
    json parsed = json::object();
    if (NestingDepth(body) > kMaxJsonDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat("body: nested deeper than ", kMaxJsonDepth, " levels"));
    }
    if (!absl::StripAsciiWhitespace(body).empty()) {
      // The JSON itself strictly here; protobuf then checks the fields.
      absl::StatusOr<json> strict = ParseStrictJson(body);
      if (!strict.ok()) return strict.status();
      parsed = *std::move(strict);
    }
    if (route.body == "*") {
      if (!parsed.is_object()) return absl::InvalidArgumentError("body: must be a JSON object");
      if (absl::Status status = CheckObject(input, parsed, ""); !status.ok()) return status;
      root = std::move(parsed);
      const FieldDescriptor* mask = input->FindFieldByName("update_mask");
      if (mask != nullptr && mask->type() == FieldDescriptor::TYPE_MESSAGE &&
          mask->message_type()->full_name() == "google.protobuf.FieldMask" &&
          !root.contains(mask->json_name())) {
        // The fields the body replaces; path variables name the resource, not a change.
        std::vector<std::string> keys;
        for (const auto& [key, value] : root.items()) {
          const FieldDescriptor* field = FindField(input, key);
          const bool from_path = absl::c_any_of(bindings, [&](const auto& binding) {
            return field != nullptr && FindFieldPath(input, binding.first) == field;
          });
          if (!from_path) keys.push_back(key);
        }
        root[mask->json_name()] = absl::StrJoin(keys, ",");
      }
    } else {
      const FieldDescriptor* body_field = input->FindFieldByName(route.body);
      if (absl::Status status = CheckValue(body_field, parsed, body_field->json_name());
          !status.ok()) {
        return status;
      }
      root[body_field->json_name()] = std::move(parsed);
    }
  }
  if (route.body == "*" && !query.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(query.front().first.substr(0, 64), ": this route takes no query parameters"));
  }
  for (const auto& [name, value] : query) {
    // The body's field and the path's variables are not query parameters.
    if (!route.body.empty() && FindField(input, name) == input->FindFieldByName(route.body)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": not a query parameter"));
    }
    for (const auto& [variable, ignored] : bindings) {
      if (FindFieldPath(input, variable) == FindField(input, name)) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": set by the path"));
      }
    }
    if (absl::Status status = SetParam(input, root, name, value, /*from_path=*/false);
        !status.ok()) {
      return status;
    }
  }
  for (const auto& [variable, value] : bindings) {
    // The path names the resource. A body that names another one (or means something else by
    // the same key: {"name": "Ada"} sent to /api/plugins/hello-world/invoke) would otherwise be
    // dropped without a word; the same value said twice is harmless.
    const FieldDescriptor* field = FindFieldPath(input, variable);
    if (field != nullptr && field->containing_type() == input) {
      for (const std::string& key : {field->json_name(), field->name()}) {
        const auto said = root.find(key);
        if (said == root.end()) continue;
        if (!SameParamValue(*said, value)) {
          return absl::InvalidArgumentError(absl::StrCat(
              key, ": given in the body as ", Quoted(said->dump()), " but the path says ",
              Quoted(value), "; the path's {", field->json_name(), "} names the resource"));
        }
        root.erase(said);
      }
    }
    // Named in errors as clients know it, by JSON name ("pipelineId").
    if (absl::Status status =
            SetParam(input, root, JsonFieldPath(input, variable), value, /*from_path=*/true);
        !status.ok()) {
      return status;
    }
  }

  std::unique_ptr<google::protobuf::Message> request(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(input)->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      root.dump(-1, ' ', false, json::error_handler_t::replace), request.get(), options);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(CleanParseError(std::string(parsed.message())));
  }
  return request;
}

absl::StatusOr<std::string> RenderResponse(const google::protobuf::Message& response) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = false;
  std::string out;
  const auto printed = google::protobuf::util::MessageToJsonString(response, &out, options);
  if (!printed.ok()) return absl::InternalError("the service's response cannot be rendered");
  return out;
}

}  // namespace spine::gateway
