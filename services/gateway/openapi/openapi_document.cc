#include "services/gateway/openapi/openapi_document.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "nlohmann/json.hpp"
#include "services/gateway/transcode/transcoder.h"
#include "spine/v1/common.pb.h"

namespace spine::gateway {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::EnumDescriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::MethodDescriptor;
using Json = nlohmann::ordered_json;

constexpr char kSchemaPrefix[] = "#/components/schemas/";
constexpr char kErrorSchema[] = "Error";
constexpr char kErrorInfoSchema[] = "ErrorInfo";
constexpr char kSecurityScheme[] = "bearerAuth";
constexpr char kOperationsTag[] = "operations";

Json Ref(absl::string_view schema_name) {
  return Json{{"$ref", absl::StrCat(kSchemaPrefix, schema_name)}};
}

Json Type(const char* type) { return Json{{"type", type}}; }

Json Type(const char* type, const char* format) { return Json{{"type", type}, {"format", format}}; }

// A wrapper type's JSON form: its primitive, or null.
Json Nullable(const char* type) { return Json{{"type", Json::array({type, "null"})}}; }

Json Nullable(const char* type, const char* format) {
  Json schema = Nullable(type);
  schema["format"] = format;
  return schema;
}

// A proto comment as prose: the lines of a paragraph joined, paragraphs kept apart.
std::string Unwrap(absl::string_view comment) {
  std::vector<std::string> paragraphs;
  std::string current;
  for (absl::string_view line : absl::StrSplit(comment, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (line.empty()) {
      if (!current.empty()) paragraphs.push_back(std::move(current));
      current.clear();
      continue;
    }
    if (!current.empty()) current += ' ';
    absl::StrAppend(&current, line);
  }
  if (!current.empty()) paragraphs.push_back(std::move(current));
  return absl::StrJoin(paragraphs, "\n\n");
}

template <typename D>
std::string LeadingComment(const D* descriptor) {
  google::protobuf::SourceLocation location;
  if (descriptor == nullptr || !descriptor->GetSourceLocation(&location)) return "";
  return Unwrap(location.leading_comments);
}

// The proto comments of descriptors: their own file's, else those of the same name in `pool` (the
// protos built with SourceCodeInfo; generated descriptors have none).
class Comments {
 public:
  explicit Comments(const google::protobuf::DescriptorPool* pool) : pool_(pool) {}

  std::string Of(const Descriptor* d) const {
    return Pick(d, pool_ == nullptr ? nullptr : pool_->FindMessageTypeByName(d->full_name()));
  }
  std::string Of(const FieldDescriptor* d) const {
    return Pick(d, pool_ == nullptr ? nullptr : pool_->FindFieldByName(d->full_name()));
  }
  std::string Of(const MethodDescriptor* d) const {
    return Pick(d, pool_ == nullptr ? nullptr : pool_->FindMethodByName(d->full_name()));
  }
  std::string Of(const EnumDescriptor* d) const {
    return Pick(d, pool_ == nullptr ? nullptr : pool_->FindEnumTypeByName(d->full_name()));
  }
  std::string Of(const google::protobuf::ServiceDescriptor* d) const {
    return Pick(d, pool_ == nullptr ? nullptr : pool_->FindServiceByName(d->full_name()));
  }
  std::string Of(const google::protobuf::EnumValueDescriptor* d) const {
    return Pick(d, pool_ == nullptr ? nullptr : pool_->FindEnumValueByName(d->full_name()));
  }

 private:
  template <typename D>
  static std::string Pick(const D* own, const D* documented) {
    std::string comment = LeadingComment(own);
    return comment.empty() ? LeadingComment(documented) : comment;
  }

  const google::protobuf::DescriptorPool* pool_;
};

// The first sentence of `text`: an operation's summary.
std::string FirstSentence(absl::string_view text) {
  text = text.substr(0, text.find("\n\n"));
  for (size_t dot = text.find(". "); dot != absl::string_view::npos;
       dot = text.find(". ", dot + 1)) {
    // "e.g. x" and "i.e. x" do not end a sentence.
    if (dot >= 3 && (text.substr(dot - 3, 3) == "e.g" || text.substr(dot - 3, 3) == "i.e")) {
      continue;
    }
    return std::string(text.substr(0, dot + 1));
  }
  return std::string(text);
}

// The reason codes of the error shape (docs/api.md, "Reason codes"): the document lists them
// under each status they come with. `http` 0: only ever a run's failure reason.
struct Reason {
  const char* name;
  int http;
  const char* meaning;
};

constexpr Reason kReasons[] = {
    {"INVALID_ARGUMENT", 400,
     "generic bad input: malformed JSON, unknown field, value out of range (the message names the "
     "field)"},
    {"UNSUPPORTED_MEDIA_TYPE", 415, "a body without `Content-Type: application/json`"},
    {"BODY_TOO_LARGE", 413,
     "body over the edge limit, or a request that encodes to more than "
     "`SPINE_GRPC_MAX_MESSAGE_BYTES`"},
    {"HEADERS_TOO_LARGE", 431, "headers over `SPINE_HTTP_MAX_HEADER_BYTES`"},
    {"BAD_HTTP", 400, "not parseable as HTTP/1.1"},
    {"ROUTE_NOT_FOUND", 404, "no route for the path"},
    {"METHOD_NOT_ALLOWED", 405,
     "the path exists, the method does not (`Allow` lists those that do)"},
    {"TOO_MANY_CONNECTIONS", 503, "the gateway's connection limit, overall or per client address"},
    {"UPSTREAM_UNAVAILABLE", 503, "the service behind the route cannot be reached"},
    {"UPSTREAM_TIMEOUT", 504,
     "the service did not answer within the gateway's deadline (no `timeoutMs` of the caller's ran "
     "out first)"},
    {"PLUGIN_TIMEOUT", 504,
     "the invocation ran past its timeout: the caller's `timeoutMs` or the plugin's own limit "
     "(`metadata.plugin`, `metadata.timeoutMs`)"},
    {"GENERATION_TIMEOUT", 504,
     "the generation ran past the caller's `timeoutMs`, or the model's `timeoutMs` from the models "
     "file (`metadata.model`, `metadata.timeoutMs`)"},
    {"IDEMPOTENCY_KEY_REUSED", 422,
     "the idempotency key (body `idempotencyKey` or `Idempotency-Key` header) was used before by "
     "this user for a different request: another pipeline or input (`metadata.idempotencyKey`, "
     "`metadata.runId` of the first run)"},
    {"CORS_ORIGIN_NOT_ALLOWED", 403, "a CORS preflight from an origin not in `SPINE_CORS_ORIGINS`"},
    {"UPSTREAM_RESPONSE_TOO_LARGE", 502, "the service's answer exceeds the gRPC message limit"},
    {"SERVICES_NOT_READY", 503, "`/readyz`: some service is not ready (`notReady` lists them)"},
    {"RATE_LIMITED", 429, "the per-IP rate limit"},
    {"UNAUTHENTICATED", 401,
     "missing, malformed, expired or wrongly signed token; wrong username or password; a refresh "
     "token that is invalid, expired or already used"},
    {"TOKEN_REVOKED", 401, "the access token's session was logged out or revoked"},
    {"TOKEN_USER_UNKNOWN", 401, "the access token's user no longer exists"},
    {"ACCOUNT_DISABLED", 401, "the token's (or refresh token's) user is disabled"},
    {"API_KEY_INVALID", 401,
     "an API key that is malformed, unknown, wrong, expired or revoked (one answer for all)"},
    {"API_KEY_SCOPE", 403,
     "the API key's scope does not allow the route, or the route manages credentials"},
    {"WRONG_PASSWORD", 403,
     "`POST /api/auth/password` with a wrong `oldPassword` (nothing changes)"},
    {"LAST_ADMIN", 409, "demoting, disabling or deleting the last enabled admin"},
    {"USER_NOT_FOUND", 404, "no such user; no such API key, or another user's"},
    {"API_KEY_NOT_FOUND", 404, "no such user; no such API key, or another user's"},
    {"PERMISSION_DENIED", 403,
     "not allowed (a non-admin on an admin route, a user token on an internal RPC)"},
    {"RESOURCE_EXHAUSTED", 429,
     "login locked after too many failures for this username from this address"},
    {"ALREADY_EXISTS", 409, "a username that is taken (case-insensitively)"},
    {"THOUGHT_NOT_FOUND", 404, "no such thought, or another user's"},
    {"INVALID_PAGE_TOKEN", 400,
     "a page token that was tampered with, is from another query, or from before a key change"},
    {"MODEL_NOT_FOUND", 404, "no such model"},
    {"PROMPT_TOO_LONG", 400, "prompt or system over `SPINE_LLM_MAX_PROMPT_CHARS`"},
    {"QUEUE_FULL", 429,
     "a model's queue, a plugin's queue (or this user's share of it), or a bus queue is full; "
     "`Retry-After`"},
    {"USER_CONCURRENCY_LIMIT", 429,
     "more than `SPINE_LLM_USER_MAX_CONCURRENT` generations queued or running for this user"},
    {"USER_RATE_LIMIT", 429,
     "more than `SPINE_LLM_USER_REQUESTS_PER_MINUTE` generations started; `Retry-After`"},
    {"CONVERSATION_NOT_FOUND", 404, "no such conversation, or another user's"},
    {"CONVERSATION_BUSY", 409,
     "a message was sent while the previous reply is still being generated"},
    {"BACKEND_UNAVAILABLE", 503,
     "the model's backend (ollama, openai-compatible) cannot be reached or is overloaded. Every "
     "`BACKEND_*` error's message starts \"model 'x': \" and its `metadata.model` names the model"},
    {"BACKEND_AUTH_FAILED", 503, "the backend refused Spine's API key"},
    {"BACKEND_MODEL_NOT_FOUND", 404, "the backend does not know the configured `backendModel`"},
    {"BACKEND_REJECTED_REQUEST", 400, "the backend refused the request as invalid"},
    {"BACKEND_ERROR", 500, "the backend failed"},
    {"BACKEND_BAD_RESPONSE", 500, "the backend answered something Spine cannot parse"},
    {"PLUGIN_NOT_FOUND", 404, "no such plugin"},
    {"PLUGIN_LOAD_FAILED", 503,
     "the plugin is listed `FAILED` (its folder was rejected; `loadError` says why)"},
    {"INPUT_TOO_LARGE", 400, "plugin input over 256 KiB"},
    {"PLUGIN_ERROR", 502,
     "the plugin threw (its message, no stack) or could not be loaded by the worker. Any of the "
     "plugin's `console.*` lines captured before it failed ride along in `metadata.logs` (one per "
     "line, the last 2 KiB), for every plugin failure"},
    {"PLUGIN_CRASHED", 502, "the worker exited, was killed or ran out of memory"},
    {"PLUGIN_BAD_OUTPUT", 502,
     "the plugin printed to stdout, or its output is not JSON or too large"},
    {"SANDBOX_VIOLATION", 502, "the worker made a system call the sandbox forbids and was killed"},
    {"SANDBOX_UNAVAILABLE", 503, "the kernel lacks the sandbox (Landlock); no worker can start"},
    {"PLUGIN_DISABLED", 503,
     "the plugin's circuit breaker is open, for this user or for everyone; `Retry-After`"},
    {"PLUGIN_QUOTA_EXCEEDED", 429,
     "the plugin's data directory went over `SPINE_PLUGINS_DATA_QUOTA_MB`"},
    {"INVALID_PIPELINE", 400,
     "a pipeline definition breaks a rule (`metadata.field` names the place)"},
    {"UNSUPPORTED_SCHEMA_VERSION", 400,
     "`schemaVersion` is not supported (`metadata.supported` lists those that are)"},
    {"UNKNOWN_MODEL", 400, "a step names a model or plugin no executor currently advertises"},
    {"UNKNOWN_PLUGIN", 400, "a step names a model or plugin no executor currently advertises"},
    {"TEMPLATE_OUTPUT_TOO_LARGE", 400,
     "a template renders beyond the render limits (`metadata.field`, `metadata.limit`); also a "
     "run's failure reason"},
    {"TEMPLATE_PATH_MISSING", 0,
     "a run's failure reason: a template names a path the input or a step output does not have"},
    {"PIPELINE_NOT_FOUND", 404, "no such pipeline or run, or another user's"},
    {"RUN_NOT_FOUND", 404, "no such pipeline or run, or another user's"},
    {"RUN_LIMIT", 429, "more than `SPINE_TASKS_USER_MAX_RUNS` unfinished runs for this user"},
};

// The JSON form of a well-known type (protobuf's JSON mapping), or nullopt for any other
// message. These are inlined rather than named schemas: their JSON is not an object of fields.
std::optional<Json> WellKnownSchema(const Descriptor* message) {
  const std::string& name = message->full_name();
  if (!absl::StartsWith(name, "google.protobuf.")) return std::nullopt;
  if (name == "google.protobuf.Timestamp") return Type("string", "date-time");
  if (name == "google.protobuf.Duration") {
    Json schema = Type("string");
    schema["pattern"] = "^-?[0-9]+(\\.[0-9]{1,9})?s$";
    schema["description"] = "Seconds with up to 9 fractional digits and an 's' suffix: \"1.5s\".";
    return schema;
  }
  if (name == "google.protobuf.FieldMask") {
    Json schema = Type("string");
    schema["description"] = "Comma-separated lowerCamelCase field paths.";
    return schema;
  }
  if (name == "google.protobuf.Struct") return Type("object");
  if (name == "google.protobuf.Value") return Json::object();  // any JSON value
  if (name == "google.protobuf.ListValue")
    return Json{{"type", "array"}, {"items", Json::object()}};
  if (name == "google.protobuf.Empty") return Type("object");
  if (name == "google.protobuf.Any") {
    return Json{{"type", "object"},
                {"properties", {{"@type", Type("string")}}},
                {"required", Json::array({"@type"})}};
  }
  if (name == "google.protobuf.DoubleValue") return Nullable("number", "double");
  if (name == "google.protobuf.FloatValue") return Nullable("number", "float");
  if (name == "google.protobuf.Int64Value") return Nullable("string", "int64");
  if (name == "google.protobuf.UInt64Value") return Nullable("string", "uint64");
  if (name == "google.protobuf.Int32Value") return Nullable("integer", "int32");
  if (name == "google.protobuf.UInt32Value") return Nullable("integer", "uint32");
  if (name == "google.protobuf.BoolValue") return Nullable("boolean");
  if (name == "google.protobuf.StringValue") return Nullable("string");
  if (name == "google.protobuf.BytesValue") {
    Json schema = Nullable("string");
    schema["contentEncoding"] = "base64";
    return schema;
  }
  return std::nullopt;
}

// The JSON form of a non-message, non-enum field value.
Json ScalarSchema(const FieldDescriptor* field) {
  switch (field->type()) {
    case FieldDescriptor::TYPE_INT64:
    case FieldDescriptor::TYPE_SINT64:
    case FieldDescriptor::TYPE_SFIXED64:
      return Type("string", "int64");
    case FieldDescriptor::TYPE_UINT64:
    case FieldDescriptor::TYPE_FIXED64:
      // Beyond int64's range, so not "int64" (OpenAPI formats are open-ended annotations).
      return Type("string", "uint64");
    case FieldDescriptor::TYPE_INT32:
    case FieldDescriptor::TYPE_SINT32:
    case FieldDescriptor::TYPE_SFIXED32:
      return Type("integer", "int32");
    case FieldDescriptor::TYPE_UINT32:
    case FieldDescriptor::TYPE_FIXED32:
      return Json{{"type", "integer"}, {"minimum", 0}, {"maximum", 4294967295U}};
    case FieldDescriptor::TYPE_DOUBLE:
      return Type("number", "double");
    case FieldDescriptor::TYPE_FLOAT:
      return Type("number", "float");
    case FieldDescriptor::TYPE_BOOL:
      return Type("boolean");
    case FieldDescriptor::TYPE_BYTES:
      return Json{{"type", "string"}, {"contentEncoding", "base64"}};
    default:
      return Type("string");
  }
}

// `field`'s (spine.api.field) rules as JSON Schema keywords on `schema` (its items for a repeated
// field, except the item counts). Numeric bounds only on JSON numbers: a 64-bit integer is a
// string in JSON.
void ApplyRules(const FieldDescriptor* field, Json& schema) {
  const spine::api::FieldRules& rules = field->options().GetExtension(spine::api::field);
  if (field->is_repeated() && !field->is_map()) {
    if (rules.has_min_items()) schema["minItems"] = rules.min_items();
    if (rules.has_max_items()) schema["maxItems"] = rules.max_items();
  }
  Json& value = field->is_repeated() && !field->is_map() ? schema["items"] : schema;
  const bool integral = field->cpp_type() == FieldDescriptor::CPPTYPE_INT32 ||
                        field->cpp_type() == FieldDescriptor::CPPTYPE_UINT32;
  const bool number = integral || field->cpp_type() == FieldDescriptor::CPPTYPE_DOUBLE ||
                      field->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT;
  auto bound = [&](double limit) {
    return integral ? Json(static_cast<int64_t>(limit)) : Json(limit);
  };
  if (number && rules.has_minimum()) value["minimum"] = bound(rules.minimum());
  if (number && rules.has_maximum()) value["maximum"] = bound(rules.maximum());
  if (number && rules.allowed_size() > 0) {
    value["enum"] = Json(std::vector<int64_t>(rules.allowed().begin(), rules.allowed().end()));
  }
  if (field->cpp_type() == FieldDescriptor::CPPTYPE_STRING) {
    if (rules.has_min_length()) value["minLength"] = rules.min_length();
    if (rules.has_max_length()) value["maxLength"] = rules.max_length();
    if (!rules.pattern().empty()) value["pattern"] = rules.pattern();
  }
}

bool IsRequiredRule(const FieldDescriptor* field) {
  return field->options().GetExtension(spine::api::field).required();
}

// Component schemas of messages and enums, by full proto name. Messages are referenced first
// and defined later (Components), so recursive messages are fine.
class SchemaRegistry {
 public:
  explicit SchemaRegistry(const Comments& comments) : comments_(comments) {}

  // `field` as it appears in JSON: arrays for repeated fields, objects for maps.
  Json FieldSchema(const FieldDescriptor* field) {
    Json schema;
    if (field->is_map()) {
      schema = Json{{"type", "object"},
                    {"additionalProperties", ValueSchema(field->message_type()->map_value())}};
    } else if (field->is_repeated()) {
      schema = Json{{"type", "array"}, {"items", ValueSchema(field)}};
    } else {
      schema = ValueSchema(field);
    }
    ApplyRules(field, schema);
    return schema;
  }

  // One value of `field`, ignoring `repeated`.
  Json ValueSchema(const FieldDescriptor* field) {
    if (const Descriptor* held = HeldMessage(field)) return MessageSchema(held);
    switch (field->type()) {
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP:
        return MessageSchema(field->message_type());
      case FieldDescriptor::TYPE_ENUM:
        return EnumSchema(field->enum_type());
      default:
        return ScalarSchema(field);
    }
  }

  // A $ref to `message`'s schema, or the inline form of a well-known type.
  Json MessageSchema(const Descriptor* message) {
    if (std::optional<Json> known = WellKnownSchema(message)) return *std::move(known);
    messages_.emplace(message->full_name(), message);
    return Ref(message->full_name());
  }

  // `message` is (part of) a request: its fields are required only where a rule says so. In a
  // response every field without presence is always there (the gateway prints them all).
  void MarkRequest(const Descriptor* message) {
    if (!request_messages_.insert(message).second) return;
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor* field = message->field(i);
      const Descriptor* held = HeldMessage(field);
      if (held == nullptr && field->message_type() != nullptr) held = field->message_type();
      if (held != nullptr) MarkRequest(held);
    }
  }

  // The object schema of `message`'s fields, leaving out `excluded` (request bodies without the
  // fields their path sets).
  Json ObjectSchema(const Descriptor* message, const std::set<const FieldDescriptor*>& excluded) {
    const bool request = request_messages_.count(message) != 0;
    Json properties = Json::object();
    Json required = Json::array();
    std::map<const google::protobuf::OneofDescriptor*, Json> required_oneofs;
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor* field = message->field(i);
      if (excluded.count(field) != 0) continue;
      Json schema = FieldSchema(field);
      std::vector<std::string> notes;
      if (std::string comment = comments_.Of(field); !comment.empty()) notes.push_back(comment);
      const google::protobuf::OneofDescriptor* oneof = field->real_containing_oneof();
      if (oneof != nullptr) {
        std::vector<std::string> members;
        members.reserve(oneof->field_count());
        for (int m = 0; m < oneof->field_count(); ++m) {
          members.push_back(oneof->field(m)->json_name());
        }
        const bool exactly_one = IsRequiredRule(field);
        notes.push_back(absl::StrCat(exactly_one ? "Exactly" : "At most", " one of ",
                                     absl::StrJoin(members, ", "), " (oneof ", oneof->name(),
                                     ")."));
        if (exactly_one) {
          // The member with its schema, so a generated client's type requires one of them.
          required_oneofs[oneof].push_back(
              Json{{"type", "object"},
                   {"required", Json::array({field->json_name()})},
                   {"properties", {{field->json_name(), FieldSchema(field)}}}});
        }
      } else if (IsRequiredRule(field) ||
                 (!request && !field->has_presence() && !HeldMessage(field))) {
        required.push_back(field->json_name());
      }
      if (!notes.empty()) schema["description"] = absl::StrJoin(notes, "\n\n");
      properties[field->json_name()] = std::move(schema);
    }
    Json schema = Json{{"type", "object"}, {"properties", std::move(properties)}};
    if (!required.empty()) schema["required"] = std::move(required);
    if (required_oneofs.size() == 1) {
      schema["oneOf"] = std::move(required_oneofs.begin()->second);
    } else if (!required_oneofs.empty()) {
      Json all = Json::array();
      for (auto& [oneof, alternatives] : required_oneofs) {
        all.push_back(Json{{"oneOf", std::move(alternatives)}});
      }
      schema["allOf"] = std::move(all);
    }
    if (std::string comment = comments_.Of(message); !comment.empty()) {
      schema["description"] = comment;
    }
    return schema;
  }

  // Every referenced message and enum, defined, sorted by name.
  std::map<std::string, Json> Components() {
    std::map<std::string, Json> defined;
    // Defining a message may reference more; repeat until nothing new appears.
    for (bool grew = true; grew;) {
      grew = false;
      const std::map<std::string, const Descriptor*> referenced = messages_;
      for (const auto& [name, message] : referenced) {
        if (defined.count(name) != 0) continue;
        defined.emplace(name, ObjectSchema(message, {}));
        grew = true;
      }
    }
    for (const auto& [name, enumeration] : enums_) {
      Json values = Json::array();
      std::vector<std::string> documented;
      for (int i = 0; i < enumeration->value_count(); ++i) {
        const google::protobuf::EnumValueDescriptor* value = enumeration->value(i);
        values.push_back(value->name());
        if (std::string comment = comments_.Of(value); !comment.empty()) {
          documented.push_back(absl::StrCat("- `", value->name(), "`: ", comment));
        }
      }
      Json schema = Json{{"type", "string"}, {"enum", std::move(values)}};
      std::string description = comments_.Of(enumeration);
      if (!documented.empty()) {
        absl::StrAppend(&description, description.empty() ? "" : "\n\n",
                        absl::StrJoin(documented, "\n"));
      }
      if (!description.empty()) schema["description"] = std::move(description);
      defined.emplace(name, std::move(schema));
    }
    return defined;
  }

 private:
  // The message a Struct or Value field's JSON really is ((spine.api.field).json_schema_of), or
  // null.
  static const Descriptor* HeldMessage(const FieldDescriptor* field) {
    const std::string& name = field->options().GetExtension(spine::api::field).json_schema_of();
    if (name.empty()) return nullptr;
    return field->file()->pool()->FindMessageTypeByName(name);
  }

  Json EnumSchema(const EnumDescriptor* enumeration) {
    if (enumeration->full_name() == "google.protobuf.NullValue") return Type("null");
    enums_.emplace(enumeration->full_name(), enumeration);
    return Ref(enumeration->full_name());
  }

  const Comments& comments_;
  std::map<std::string, const Descriptor*> messages_;
  std::map<std::string, const EnumDescriptor*> enums_;
  std::set<const Descriptor*> request_messages_;
};

// API.md's one error shape (AIP-193) and its detail.
Json ErrorSchema() {
  Json status = Json{
      {"type", "object"},
      {"description", "The error (google.rpc.Status in its JSON form, AIP-193)."},
      {"required", Json::array({"code", "status", "message", "details"})},
      {"properties",
       {{"code",
         Json{{"type", "integer"}, {"format", "int32"}, {"description", "The HTTP status code."}}},
        {"status",
         Json{{"type", "string"}, {"description", "The gRPC code name, e.g. NOT_FOUND."}}},
        {"message",
         Json{{"type", "string"},
              {"description", "For humans; never a stack trace, SQL, a file path or a secret."}}},
        {"details", Json{{"type", "array"},
                         {"items", Ref(kErrorInfoSchema)},
                         {"description",
                          "One ErrorInfo: `details[0].reason` is what programs switch on."}}}}}};
  return Json{{"type", "object"},
              {"description",
               "Every error, from every layer, has this one shape. `/readyz` adds `notReady` and "
               "`degraded`."},
              {"required", Json::array({"error"})},
              {"properties", {{"error", std::move(status)}}}};
}

Json ErrorInfoSchema() {
  std::vector<std::string> reasons;
  Json examples = Json::array();
  for (const Reason& reason : kReasons) {
    reasons.push_back(
        absl::StrCat("- `", reason.name, "` (",
                     reason.http == 0 ? "a run's failure reason" : absl::StrCat(reason.http),
                     "): ", reason.meaning));
    examples.push_back(reason.name);
  }
  return Json{
      {"type", "object"},
      {"description", "Why the request failed (google.rpc.ErrorInfo)."},
      {"required", Json::array({"@type", "reason", "domain", "metadata"})},
      {"properties",
       {{"@type", Json{{"type", "string"},
                       {"const", "type.googleapis.com/google.rpc.ErrorInfo"},
                       {"description", "The detail's type."}}},
        {"reason",
         Json{{"type", "string"},
              {"description",
               absl::StrCat("UPPER_SNAKE_CASE; when a service gives no specific reason, the gRPC "
                            "code name. A reason, once shipped, keeps its meaning; new ones may "
                            "be added. Known reasons (and their HTTP status):\n\n",
                            absl::StrJoin(reasons, "\n"))},
              {"examples", std::move(examples)}}},
        {"domain",
         Json{{"type", "string"}, {"const", "spine"}, {"description", "Always `spine`."}}},
        {"metadata",
         Json{{"type", "object"},
              {"additionalProperties", Type("string")},
              {"description",
               "More about the failure, by reason: `field` (the place in a pipeline definition), "
               "`supported` (schema versions), `retryAfterSeconds`, `model`, `plugin`, "
               "`timeoutMs`, `idempotencyKey`, `runId`, `logs`, `services`."}}}}}};
}

std::string StatusPhrase(int code) {
  switch (code) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Error";
  }
}

// The name of the shared response of an error status, in components/responses.
std::string ErrorResponseName(int code) { return absl::StrCat("Error", code); }

// The shared response of an error status: the error shape, the reasons that come with it, and
// the headers that go with it.
Json ErrorResponseComponent(int code) {
  std::vector<std::string> reasons;
  for (const Reason& reason : kReasons) {
    if (reason.http == code) reasons.push_back(absl::StrCat("`", reason.name, "`"));
  }
  std::string description = StatusPhrase(code);
  if (!reasons.empty()) {
    absl::StrAppend(&description, ": ", absl::StrJoin(reasons, ", "),
                    ", or the gRPC code name (see ErrorInfo.reason).");
  }
  Json response = Json{{"description", std::move(description)},
                       {"content", {{"application/json", {{"schema", Ref(kErrorSchema)}}}}}};
  if (code == 401) {
    response["headers"]["WWW-Authenticate"] =
        Json{{"description", "`Bearer realm=\"spine\"`."}, {"schema", Type("string")}};
  }
  if (code == 429 || code == 503) {
    response["headers"]["Retry-After"] =
        Json{{"description", "Seconds to wait before trying again, where known."},
             {"schema", Type("integer")}};
  }
  return response;
}

Json ErrorResponseRef(int code) {
  return Json{{"$ref", absl::StrCat("#/components/responses/", ErrorResponseName(code))}};
}

Json ErrorResponse() {
  return Json{{"description", "An error in the one error shape; the status follows the gRPC code."},
              {"content", {{"application/json", {{"schema", Ref(kErrorSchema)}}}}}};
}

Json JsonContent(Json schema) {
  return Json{{"application/json", Json{{"schema", std::move(schema)}}}};
}

Json BearerSecurity() { return Json::array({Json{{kSecurityScheme, Json::array()}}}); }

std::string ReasonPhrase(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    default:
      return "Success";
  }
}

std::string AccessNote(spine::api::Access access) {
  switch (access) {
    case spine::api::ACCESS_PUBLIC:
      return "Access: public, no token needed.";
    case spine::api::ACCESS_ADMIN:
      return "Access: admin role required.";
    case spine::api::ACCESS_INTERNAL:
      return "Access: Spine services only (service role required).";
    default:
      return "Access: a valid access token required.";
  }
}

std::string Lowercase(absl::string_view text) { return absl::AsciiStrToLower(text); }

class DocumentBuilder {
 public:
  explicit DocumentBuilder(const google::protobuf::DescriptorPool* docs)
      : comments_(docs), schemas_(comments_) {}

  absl::StatusOr<Json> Build(const RouteTable& routes, const OpenApiInfo& info) {
    if (info.title.empty() || info.version.empty()) {
      return absl::InvalidArgumentError("OpenAPI info: title and version must not be empty");
    }
    Json paths = Json::object();
    // One tag per service, described by the service's comment.
    Json tag_list = Json::array();
    std::set<std::string> tags;
    for (const Route& route : routes.routes()) {
      absl::StatusOr<Json> operation = Operation(route);
      if (!operation.ok()) return operation.status();
      Json& path = paths[route.public_path];
      path[Lowercase(route.http_method)] = *std::move(operation);
      const google::protobuf::ServiceDescriptor* service = route.method->service();
      if (!tags.insert(service->name()).second) continue;
      Json tag = Json{{"name", service->name()}};
      if (std::string comment = comments_.Of(service); !comment.empty()) {
        tag["description"] = comment;
      }
      tag_list.push_back(std::move(tag));
    }
    AddOperationsEndpoints(paths);
    tag_list.push_back(Json{{"name", kOperationsTag},
                            {"description", "The gateway's own endpoints: no token needed."}});

    Json schemas = Json::object();
    schemas[std::string(kErrorSchema)] = ErrorSchema();
    schemas[std::string(kErrorInfoSchema)] = ErrorInfoSchema();
    for (auto& [name, schema] : schemas_.Components()) schemas[name] = std::move(schema);
    Json responses = Json::object();
    for (int code : error_codes_) responses[ErrorResponseName(code)] = ErrorResponseComponent(code);

    Json info_json = Json{{"title", info.title}, {"version", info.version}};
    if (!info.description.empty()) info_json["description"] = info.description;

    return Json{{"openapi", "3.1.0"},
                {"info", std::move(info_json)},
                {"servers", Json::array({Json{{"url", "/"}}})},
                {"security", BearerSecurity()},
                {"tags", std::move(tag_list)},
                {"paths", std::move(paths)},
                {"components",
                 {{"schemas", std::move(schemas)},
                  {"responses", std::move(responses)},
                  {"securitySchemes",
                   {{kSecurityScheme,
                     Json{{"type", "http"},
                          {"scheme", "bearer"},
                          {"bearerFormat", "JWT"},
                          {"description", "The accessToken from POST /api/auth/login."}}}}}}}};
  }

 private:
  absl::StatusOr<Json> Operation(const Route& route) {
    const MethodDescriptor* method = route.method;
    const Descriptor* input = method->input_type();
    const std::string where = absl::StrCat(route.http_method, " ", route.path.text(), ": ");

    // Path variables: required, typed by their field. Top-level ones leave the body and query.
    Json parameters = Json::array();
    std::set<const FieldDescriptor*> from_path;
    for (const std::string& variable : route.path.Variables()) {
      const FieldDescriptor* field = FindFieldPath(input, variable);
      if (field == nullptr) {
        return absl::InternalError(absl::StrCat(where, "'", variable, "' is not a request field"));
      }
      if (!absl::StrContains(variable, '.')) from_path.insert(field);
      Json parameter = Json{{"name", JsonFieldPath(input, variable)},
                            {"in", "path"},
                            {"required", true},
                            {"schema", schemas_.ValueSchema(field)}};
      if (std::string comment = comments_.Of(field); !comment.empty()) {
        parameter["description"] = comment;
      }
      parameters.push_back(std::move(parameter));
    }

    // Without a whole-message body, the remaining scalar fields come from the query string.
    const FieldDescriptor* body_field =
        route.body.empty() || route.body == "*" ? nullptr : input->FindFieldByName(route.body);
    if (!route.body.empty() && route.body != "*" && body_field == nullptr) {
      return absl::InternalError(absl::StrCat(where, "body '", route.body, "' is not a field"));
    }
    if (route.body != "*") {
      for (int i = 0; i < input->field_count(); ++i) {
        const FieldDescriptor* field = input->field(i);
        if (field == body_field || from_path.count(field) != 0 || field->is_map() ||
            !IsTextParameterField(field)) {
          continue;
        }
        Json parameter = Json{{"name", field->json_name()},
                              {"in", "query"},
                              {"required", false},
                              {"schema", schemas_.FieldSchema(field)}};
        if (field->is_repeated()) {
          parameter["style"] = "form";
          parameter["explode"] = true;
        }
        if (std::string comment = comments_.Of(field); !comment.empty()) {
          parameter["description"] = comment;
        }
        parameters.push_back(std::move(parameter));
      }
    }

    Json operation = Json::object();
    operation["operationId"] =
        UniqueOperationId(absl::StrCat(method->service()->name(), "_", method->name()));
    operation["tags"] = Json::array({method->service()->name()});
    std::vector<std::string> description;
    if (std::string comment = comments_.Of(method); !comment.empty()) {
      operation["summary"] = FirstSentence(comment);
      description.push_back(comment);
    }
    description.push_back(AccessNote(route.access));
    description.push_back(absl::StrCat("gRPC: `", route.GrpcPath(), "`."));
    operation["description"] = absl::StrJoin(description, "\n\n");
    if (!parameters.empty()) operation["parameters"] = std::move(parameters);

    if (route.body == "*") {
      // The whole request is the body, less the fields its path sets.
      schemas_.MarkRequest(input);
      Json schema = from_path.empty() ? schemas_.MessageSchema(input)
                                      : schemas_.ObjectSchema(input, from_path);
      operation["requestBody"] =
          Json{{"required", true}, {"content", JsonContent(std::move(schema))}};
    } else if (body_field != nullptr) {
      if (body_field->message_type() != nullptr) schemas_.MarkRequest(body_field->message_type());
      operation["requestBody"] =
          Json{{"required", true}, {"content", JsonContent(schemas_.FieldSchema(body_field))}};
    }

    Json responses = Json::object();
    const std::string code = std::to_string(route.success_code);
    if (method->server_streaming() && method->output_type() == spine::api::HttpBody::descriptor()) {
      responses[code] =
          Json{{"description",
                "The file, streamed (chunked); Content-Disposition names it. A body cut short (the "
                "connection closed before the last chunk) means the download failed."},
               {"content",
                {{"application/octet-stream",
                  {{"schema", {{"type", "string"}, {"format", "binary"}}}}}}}};
    } else if (method->server_streaming()) {
      responses[code] = EventStreamResponse(method->output_type());
    } else if (route.success_code == 204) {
      responses[code] = Json{{"description", ReasonPhrase(204)}};
    } else {
      responses[code] =
          Json{{"description", ReasonPhrase(route.success_code)},
               {"content", JsonContent(schemas_.MessageSchema(method->output_type()))}};
    }
    if (route.deadline_field != nullptr && route.success_code == 202) {
      // Waiting (`waitMs`) for something that ends in time answers 200 with the same body.
      responses["200"] = responses[code];
      responses["200"]["description"] = absl::StrCat(
          "OK: it ended within ", route.deadline_field->json_name(),
          " (202 when it did not, or without ", route.deadline_field->json_name(), ").");
    }
    for (int error : ErrorCodes(route, from_path)) {
      error_codes_.insert(error);
      responses[std::to_string(error)] = ErrorResponseRef(error);
    }
    responses["default"] = ErrorResponse();
    operation["responses"] = std::move(responses);
    operation["security"] =
        route.access == spine::api::ACCESS_PUBLIC ? Json::array() : BearerSecurity();
    return operation;
  }

  // The error statuses `route` can answer (besides the gateway-wide ones, such as 405, 431 and
  // 503 TOO_MANY_CONNECTIONS, which `default` covers).
  static std::set<int> ErrorCodes(const Route& route,
                                  const std::set<const FieldDescriptor*>& from_path) {
    const Descriptor* input = route.method->input_type();
    // Bad input of any kind; a bad token (or a wrong password); the per-IP rate limit and the
    // services' own limits; the service failing, answering too much (502), unreachable, or late.
    std::set<int> codes = {400, 401, 429, 500, 502, 503, 504};
    const bool has_body = !route.body.empty();
    if (has_body) codes.insert({413, 415});
    if (route.access != spine::api::ACCESS_PUBLIC) {
      codes.insert(403);  // the role, or an API key's scope
      // Creating, changing or deleting can conflict (a taken name, the last admin, a busy
      // conversation).
      if (route.http_method != "GET") codes.insert(409);
    }
    // A named resource, or a model or plugin named in the body, may not exist.
    if (!route.path.Variables().empty() || !from_path.empty() ||
        input->FindFieldByName("model") != nullptr) {
      codes.insert(404);
    }
    if (input->FindFieldByName("idempotency_key") != nullptr) codes.insert(422);
    return codes;
  }

  // A server-streaming RPC's text/event-stream (transcoding_handler.cc's EventStream): a `data:`
  // event per message; `event: done` with the `done` field's message (or `{}` when the stream
  // ends without one); `event: error` with the error shape when it fails after it began.
  Json EventStreamResponse(const Descriptor* output) {
    const FieldDescriptor* done = output->FindFieldByName("done");
    if (done != nullptr && (done->message_type() == nullptr || done->is_repeated())) done = nullptr;
    Json events = Json::object();
    events["message"] =
        Json{{"description",
              absl::StrCat("`data: <", output->full_name(), ">`, without an `event:` line",
                           done == nullptr
                               ? "."
                               : absl::StrCat(" (`", done->json_name(), "` is never set in it)."))},
             {"data", schemas_.MessageSchema(output)}};
    if (done != nullptr) {
      events["done"] =
          Json{{"description",
                absl::StrCat("`event: done` then `data: <", done->message_type()->full_name(),
                             ">`: the last event, the same object as the unary call answers.")},
               {"data", schemas_.MessageSchema(done->message_type())}};
    } else {
      events["done"] = Json{{"description", "`event: done` then `data: {}`: the last event."},
                            {"data", Type("object")}};
    }
    events["error"] =
        Json{{"description",
              "`event: error` then `data: <Error>`: a failure after the stream began (one before "
              "it is an ordinary error response with its status); the last event."},
             {"data", Ref(kErrorSchema)}};
    std::string description =
        "Server-sent events (`text/event-stream`), one JSON object on each `data:` line: "
        "`x-spine-events` gives each event's `data` schema. Closing the connection cancels the "
        "call.\n\n";
    for (const auto& [name, event] : events.items()) {
      absl::StrAppend(&description, "- ", event["description"].get<std::string>(), "\n");
    }
    return Json{
        {"description", std::move(description)},
        {"content",
         {{"text/event-stream",
           {{"schema", Json{{"type", "string"},
                            {"description", "The event stream, as text/event-stream."}}}}}}},
        {"x-spine-events", std::move(events)}};
  }

  // The gateway's own endpoints (API.md, "Operations"): no token; all but /openapi.json are not
  // rate limited.
  void AddOperationsEndpoints(Json& paths) {
    auto add = [&](absl::string_view path, absl::string_view id, absl::string_view summary,
                   absl::string_view description, Json responses) {
      responses["default"] = ErrorResponse();
      paths[std::string(path)]["get"] = Json{{"operationId", absl::StrCat("Gateway_", id)},
                                             {"tags", Json::array({kOperationsTag})},
                                             {"summary", std::string(summary)},
                                             {"description", std::string(description)},
                                             {"responses", std::move(responses)},
                                             {"security", Json::array()}};
    };
    auto string_list = [](const char* description) {
      return Json{{"type", "array"}, {"items", Type("string")}, {"description", description}};
    };
    const Json alive = Json{
        {"type", "object"},
        {"required", Json::array({"status"})},
        {"properties",
         {{"status", Json{{"type", "string"}, {"const", "ok"}, {"description", "Always `ok`."}}}}}};
    add("/healthz", "Healthz", "200 while the gateway process serves.",
        "Liveness: answers while the gateway's HTTP server runs, whatever the services do.",
        Json{{"200", {{"description", "Alive"}, {"content", JsonContent(alive)}}}});
    const char* degraded_note =
        "`model:<name>` for each configured model whose backend server cannot be reached: the "
        "stack is still usable, the other models work.";
    const Json ready =
        Json{{"type", "object"},
             {"required", Json::array({"status"})},
             {"properties",
              {{"status", Json{{"type", "string"},
                               {"enum", Json::array({"ready", "degraded"})},
                               {"description",
                                "`ready`, or `degraded` when `degraded` names what is "
                                "missing."}}},
               {"degraded", string_list(degraded_note)}}}};
    const Json not_ready = Json{
        {"allOf",
         Json::array({Ref(kErrorSchema),
                      Json{{"type", "object"},
                           {"required", Json::array({"notReady"})},
                           {"properties",
                            {{"notReady",
                              string_list("What is not ready, sorted: a service's name (`llm`), "
                                          "`executor:llm` / `executor:plugin`, or `first-admin`.")},
                             {"degraded", string_list(degraded_note)}}}}})}};
    Json retry_after =
        Json{{"Retry-After", Json{{"description", "Always 1."}, {"schema", Type("integer")}}}};
    add("/readyz", "Readyz", "200 when the stack is usable at once.",
        "Readiness: every service answers its gRPC health check, every executor kind has an "
        "executor, and the first admin exists; each asked in parallel within "
        "SPINE_READINESS_TIMEOUT_MS. A model whose backend is unreachable leaves it ready but "
        "`degraded`.",
        Json{{"200", {{"description", "Ready (or degraded)"}, {"content", JsonContent(ready)}}},
             {"503",
              {{"description",
                "Not ready (`SERVICES_NOT_READY`); `notReady` names what did not answer."},
               {"headers", std::move(retry_after)},
               {"content", JsonContent(not_ready)}}}});
    add("/status", "Status", "The platform's status, aggregated from every service.",
        "Gathered with a short deadline and cached for one second: a dead service makes it "
        "`degraded`, never slow.",
        Json{{"200",
              {{"description", "OK"},
               {"content",
                JsonContent(schemas_.MessageSchema(spine::v1::PlatformStatus::descriptor()))}}}});
    add("/metrics", "Metrics", "Prometheus text exposition.",
        "The gateway's own counters and the services' figures gathered with /status.",
        Json{{"200",
              {{"description", "OK"},
               {"content", {{"text/plain", {{"schema", Type("string")}}}}}}}});
    error_codes_.insert(429);
    add("/openapi.json", "OpenApi", "This document.",
        "Generated at start from the protos' HTTP options and comments. Rate limited like the API.",
        Json{{"200", {{"description", "OK"}, {"content", JsonContent(Type("object"))}}},
             {"429", ErrorResponseRef(429)}});
  }

  // `base`, or `base_2`, `base_3`, ... when a method has more than one binding.
  std::string UniqueOperationId(const std::string& base) {
    std::string id = base;
    for (int n = 2; !operation_ids_.insert(id).second; ++n) id = absl::StrCat(base, "_", n);
    return id;
  }

  Comments comments_;
  SchemaRegistry schemas_;
  std::set<std::string> operation_ids_;
  std::set<int> error_codes_;
};

}  // namespace

absl::StatusOr<std::string> BuildOpenApiDocument(const RouteTable& routes,
                                                 const OpenApiInfo& info) {
  absl::StatusOr<Json> document = DocumentBuilder(info.docs).Build(routes, info);
  if (!document.ok()) return document.status();
  // Descriptor names and comments are UTF-8; `replace` keeps dump() from ever throwing.
  return document->dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace spine::gateway
