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

// The leading comment of `descriptor` in its .proto, or "". Generated descriptors usually carry
// no SourceCodeInfo, so this is mostly empty; a pool built from sources with it gets the docs.
template <typename D>
std::string CommentOf(const D* descriptor) {
  google::protobuf::SourceLocation location;
  if (!descriptor->GetSourceLocation(&location)) return "";
  return std::string(absl::StripAsciiWhitespace(location.leading_comments));
}

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

// Component schemas of messages and enums, by full proto name. Messages are referenced first
// and defined later (Components), so recursive messages are fine.
class SchemaRegistry {
 public:
  // `field` as it appears in JSON: arrays for repeated fields, objects for maps.
  Json FieldSchema(const FieldDescriptor* field) {
    if (field->is_map()) {
      return Json{{"type", "object"},
                  {"additionalProperties", ValueSchema(field->message_type()->map_value())}};
    }
    if (field->is_repeated()) return Json{{"type", "array"}, {"items", ValueSchema(field)}};
    return ValueSchema(field);
  }

  // One value of `field`, ignoring `repeated`.
  Json ValueSchema(const FieldDescriptor* field) {
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

  // The object schema of `message`'s fields, leaving out `excluded` (request bodies without the
  // fields their path sets).
  Json ObjectSchema(const Descriptor* message, const std::set<const FieldDescriptor*>& excluded) {
    Json properties = Json::object();
    for (int i = 0; i < message->field_count(); ++i) {
      const FieldDescriptor* field = message->field(i);
      if (excluded.count(field) != 0) continue;
      Json schema = FieldSchema(field);
      std::vector<std::string> notes;
      if (std::string comment = CommentOf(field); !comment.empty()) notes.push_back(comment);
      if (const google::protobuf::OneofDescriptor* oneof = field->real_containing_oneof()) {
        std::vector<std::string> members;
        members.reserve(oneof->field_count());
        for (int m = 0; m < oneof->field_count(); ++m) {
          members.push_back(oneof->field(m)->json_name());
        }
        notes.push_back(absl::StrCat("At most one of ", absl::StrJoin(members, ", "), " (oneof ",
                                     oneof->name(), ")."));
      }
      if (!notes.empty()) schema["description"] = absl::StrJoin(notes, "\n\n");
      properties[field->json_name()] = std::move(schema);
    }
    Json schema = Json{{"type", "object"}, {"properties", std::move(properties)}};
    if (std::string comment = CommentOf(message); !comment.empty()) {
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
      for (int i = 0; i < enumeration->value_count(); ++i) {
        values.push_back(enumeration->value(i)->name());
      }
      Json schema = Json{{"type", "string"}, {"enum", std::move(values)}};
      if (std::string comment = CommentOf(enumeration); !comment.empty()) {
        schema["description"] = comment;
      }
      defined.emplace(name, std::move(schema));
    }
    return defined;
  }

 private:
  Json EnumSchema(const EnumDescriptor* enumeration) {
    if (enumeration->full_name() == "google.protobuf.NullValue") return Type("null");
    enums_.emplace(enumeration->full_name(), enumeration);
    return Ref(enumeration->full_name());
  }

  std::map<std::string, const Descriptor*> messages_;
  std::map<std::string, const EnumDescriptor*> enums_;
};

// API.md's one error shape (AIP-193) and its detail.
Json ErrorSchema() {
  Json status = Json{
      {"type", "object"},
      {"required", Json::array({"code", "status", "message", "details"})},
      {"properties",
       {{"code",
         Json{{"type", "integer"}, {"format", "int32"}, {"description", "The HTTP status code."}}},
        {"status",
         Json{{"type", "string"}, {"description", "The gRPC code name, e.g. NOT_FOUND."}}},
        {"message", Type("string")},
        {"details", Json{{"type", "array"}, {"items", Ref(kErrorInfoSchema)}}}}}};
  return Json{{"type", "object"},
              {"required", Json::array({"error"})},
              {"properties", {{"error", std::move(status)}}}};
}

Json ErrorInfoSchema() {
  return Json{
      {"type", "object"},
      {"required", Json::array({"@type", "reason", "domain", "metadata"})},
      {"properties",
       {{"@type",
         Json{{"type", "string"}, {"example", "type.googleapis.com/google.rpc.ErrorInfo"}}},
        {"reason", Json{{"type", "string"},
                        {"description", "UPPER_SNAKE_CASE reason, e.g. THOUGHT_NOT_FOUND."}}},
        {"domain", Json{{"type", "string"}, {"example", "spine"}}},
        {"metadata", Json{{"type", "object"}, {"additionalProperties", Type("string")}}}}}};
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
  absl::StatusOr<Json> Build(const RouteTable& routes, const OpenApiInfo& info) {
    if (info.title.empty() || info.version.empty()) {
      return absl::InvalidArgumentError("OpenAPI info: title and version must not be empty");
    }
    Json paths = Json::object();
    std::vector<std::string> tags;
    for (const Route& route : routes.routes()) {
      absl::StatusOr<Json> operation = Operation(route);
      if (!operation.ok()) return operation.status();
      Json& path = paths[route.public_path];
      path[Lowercase(route.http_method)] = *std::move(operation);
      const std::string& tag = route.method->service()->name();
      if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
    }
    AddOperationsEndpoints(paths);
    tags.emplace_back(kOperationsTag);

    Json tag_list = Json::array();
    for (const std::string& tag : tags) tag_list.push_back(Json{{"name", tag}});

    Json schemas = Json::object();
    schemas[std::string(kErrorSchema)] = ErrorSchema();
    schemas[std::string(kErrorInfoSchema)] = ErrorInfoSchema();
    for (auto& [name, schema] : schemas_.Components()) schemas[name] = std::move(schema);

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
      if (std::string comment = CommentOf(field); !comment.empty()) {
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
        if (std::string comment = CommentOf(field); !comment.empty()) {
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
    if (std::string comment = CommentOf(method); !comment.empty()) {
      operation["summary"] = comment.substr(0, comment.find('\n'));
      description.push_back(comment);
    }
    description.push_back(AccessNote(route.access));
    description.push_back(absl::StrCat("gRPC: `", route.GrpcPath(), "`."));
    operation["description"] = absl::StrJoin(description, "\n\n");
    if (!parameters.empty()) operation["parameters"] = std::move(parameters);

    if (route.body == "*") {
      // The whole request is the body, less the fields its path sets.
      Json schema = from_path.empty() ? schemas_.MessageSchema(input)
                                      : schemas_.ObjectSchema(input, from_path);
      operation["requestBody"] = Json{{"content", JsonContent(std::move(schema))}};
    } else if (body_field != nullptr) {
      operation["requestBody"] = Json{{"content", JsonContent(schemas_.FieldSchema(body_field))}};
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
      const Json event = schemas_.MessageSchema(method->output_type());
      responses[code] =
          Json{{"description", absl::StrCat("Server-sent events; the data of each is one ",
                                            method->output_type()->full_name(), " in JSON.")},
               {"content", {{"text/event-stream", {{"schema", Type("string")}}}}},
               {"x-spine-event-schema", event}};
    } else if (route.success_code == 204) {
      responses[code] = Json{{"description", ReasonPhrase(204)}};
    } else {
      responses[code] =
          Json{{"description", ReasonPhrase(route.success_code)},
               {"content", JsonContent(schemas_.MessageSchema(method->output_type()))}};
    }
    responses["default"] = ErrorResponse();
    operation["responses"] = std::move(responses);
    operation["security"] =
        route.access == spine::api::ACCESS_PUBLIC ? Json::array() : BearerSecurity();
    return operation;
  }

  // The gateway's own endpoints (API.md, "Operations"): no auth, not rate limited.
  void AddOperationsEndpoints(Json& paths) {
    auto add = [&](absl::string_view path, absl::string_view id, absl::string_view summary,
                   Json responses) {
      responses["default"] = ErrorResponse();
      paths[std::string(path)]["get"] = Json{{"operationId", absl::StrCat("Gateway_", id)},
                                             {"tags", Json::array({kOperationsTag})},
                                             {"summary", std::string(summary)},
                                             {"responses", std::move(responses)},
                                             {"security", Json::array()}};
    };
    const Json status_field =
        Json{{"type", "object"}, {"properties", {{"status", Type("string")}}}};
    add("/healthz", "Healthz", "200 while the gateway process serves.",
        Json{{"200", {{"description", "Alive"}, {"content", JsonContent(status_field)}}}});
    Json not_ready =
        Json{{"allOf",
              Json::array(
                  {Ref(kErrorSchema),
                   Json{{"type", "object"},
                        {"properties",
                         {{"notReady", Json{{"type", "array"}, {"items", Type("string")}}}}}}})}};
    add("/readyz", "Readyz", "200 when every service answers its gRPC health check.",
        Json{{"200", {{"description", "Ready"}, {"content", JsonContent(status_field)}}},
             {"503",
              {{"description", "Not ready; notReady names the services that did not answer."},
               {"content", JsonContent(std::move(not_ready))}}}});
    add("/status", "Status", "The platform's status, aggregated from every service.",
        Json{{"200",
              {{"description", "OK"},
               {"content",
                JsonContent(schemas_.MessageSchema(spine::v1::PlatformStatus::descriptor()))}}}});
    add("/metrics", "Metrics", "Prometheus text exposition.",
        Json{{"200",
              {{"description", "OK"},
               {"content", {{"text/plain", {{"schema", Type("string")}}}}}}}});
    add("/openapi.json", "OpenApi", "This document.",
        Json{{"200", {{"description", "OK"}, {"content", JsonContent(Type("object"))}}}});
  }

  // `base`, or `base_2`, `base_3`, ... when a method has more than one binding.
  std::string UniqueOperationId(const std::string& base) {
    std::string id = base;
    for (int n = 2; !operation_ids_.insert(id).second; ++n) id = absl::StrCat(base, "_", n);
    return id;
  }

  SchemaRegistry schemas_;
  std::set<std::string> operation_ids_;
};

}  // namespace

absl::StatusOr<std::string> BuildOpenApiDocument(const RouteTable& routes,
                                                 const OpenApiInfo& info) {
  absl::StatusOr<Json> document = DocumentBuilder().Build(routes, info);
  if (!document.ok()) return document.status();
  // Descriptor names and comments are UTF-8; `replace` keeps dump() from ever throwing.
  return document->dump(2, ' ', false, Json::error_handler_t::replace);
}

}  // namespace spine::gateway
