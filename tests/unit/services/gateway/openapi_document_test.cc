// The OpenAPI document against the real route table: every route is in it, every reference
// resolves, and its structure is what OpenAPI 3.1 requires (checked by a small validator here);
// plus a fixture proto for what Spine's own protos do not exercise (recursion, comments, a
// named body field, unsigned and wrapper types).
#include "services/gateway/openapi/openapi_document.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/text_format.h"
#include "libs/rpc/method_access.h"
#include "nlohmann/json.hpp"
#include "services/gateway/openapi/source_docs.h"
#include "services/gateway/transcode/route_table.h"

namespace spine::gateway {
namespace {

using nlohmann::json;

const RouteTable& SpineRoutes() {
  static const RouteTable* const table = [] {
    auto built = RouteTable::Build(rpc::SpineApiFiles());
    REQUIRE(built.ok());
    return new RouteTable(*std::move(built));
  }();
  return *table;
}

json Document(const RouteTable& routes) {
  absl::StatusOr<std::string> text = BuildOpenApiDocument(routes, {.version = "1.2.3"});
  REQUIRE(text.ok());
  json document = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(document.is_discarded());
  return document;
}

const json& SpineDocument() {
  static const json document = Document(SpineRoutes());
  return document;
}

// The document as the gateway serves it: with the protos' comments.
const json& DocumentedSpineDocument() {
  static const json document = [] {
    REQUIRE(SpineSourceDocs() != nullptr);
    absl::StatusOr<std::string> text =
        BuildOpenApiDocument(SpineRoutes(), {.version = "1.2.3", .docs = SpineSourceDocs()});
    REQUIRE(text.ok());
    return json::parse(*text);
  }();
  return document;
}

const std::set<std::string> kHttpMethods = {"get",     "put",  "post",  "delete",
                                            "options", "head", "patch", "trace"};

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// Calls `visit(path, method, operation)` for every operation of `document`.
template <typename Visit>
void ForEachOperation(const json& document, Visit visit) {
  for (const auto& [path, item] : document.at("paths").items()) {
    for (const auto& [method, operation] : item.items()) {
      if (kHttpMethods.count(method) != 0) visit(path, method, operation);
    }
  }
}

// The variables of an OpenAPI path template, "{id}" → "id".
std::vector<std::string> TemplateVariables(const std::string& path) {
  std::vector<std::string> variables;
  static const std::regex kVariable(R"(\{([^{}]+)\})");
  for (auto it = std::sregex_iterator(path.begin(), path.end(), kVariable);
       it != std::sregex_iterator(); ++it) {
    variables.push_back((*it)[1]);
  }
  return variables;
}

void CollectRefs(const json& node, std::vector<std::string>& refs) {
  if (node.is_object()) {
    for (const auto& [key, value] : node.items()) {
      if (key == "$ref" && value.is_string()) refs.push_back(value.get<std::string>());
      CollectRefs(value, refs);
    }
  } else if (node.is_array()) {
    for (const json& value : node) CollectRefs(value, refs);
  }
}

// The parts of the OpenAPI 3.1 specification this document relies on; each problem found is
// one line naming where it is.
std::vector<std::string> ValidateOpenApi(const json& document) {
  std::vector<std::string> problems;
  auto expect = [&](bool ok, const std::string& what) {
    if (!ok) problems.push_back(what);
  };
  if (!document.is_object()) return {"document: not an object"};
  expect(document.contains("openapi") && document["openapi"].is_string() &&
             document["openapi"].get<std::string>().rfind("3.1.", 0) == 0,
         "openapi: not 3.1.x");
  const json info = document.value("info", json());
  expect(info.is_object(), "info: missing");
  if (info.is_object()) {
    for (const char* key : {"title", "version"}) {
      expect(info.contains(key) && info[key].is_string() && !info[key].get<std::string>().empty(),
             absl::StrCat("info.", key, ": missing"));
    }
  }
  const json schemes =
      document.value("components", json::object()).value("securitySchemes", json::object());
  auto check_security = [&](const json& security, const std::string& where) {
    if (!security.is_array())
      return problems.push_back(absl::StrCat(where, ".security: not an array"));
    for (const json& requirement : security) {
      if (!requirement.is_object())
        return problems.push_back(absl::StrCat(where, ".security: not objects"));
      for (const auto& [name, scopes] : requirement.items()) {
        expect(schemes.contains(name) && scopes.is_array(),
               absl::StrCat(where, ".security: unknown scheme ", name));
      }
    }
  };
  if (document.contains("security")) check_security(document["security"], "document");
  if (document.contains("components") && document["components"].contains("schemas")) {
    static const std::regex kComponentName("^[a-zA-Z0-9._-]+$");
    for (const auto& [name, schema] : document["components"]["schemas"].items()) {
      expect(std::regex_match(name, kComponentName),
             absl::StrCat("components.schemas: bad name ", name));
      expect(schema.is_object() || schema.is_boolean(), absl::StrCat("components.schemas.", name));
    }
  }
  if (!document.contains("paths") || !document["paths"].is_object()) {
    problems.push_back("paths: missing");
    return problems;
  }
  std::set<std::string> operation_ids;
  for (const auto& [path, item] : document["paths"].items()) {
    expect(!path.empty() && path[0] == '/',
           absl::StrCat("paths: '", path, "' does not start with /"));
    if (!item.is_object()) {
      problems.push_back(absl::StrCat(path, ": not a path item"));
      continue;
    }
    for (const auto& [method, operation] : item.items()) {
      const std::string where = absl::StrCat(path, " ", method);
      if (kHttpMethods.count(method) == 0) {
        expect(method == "parameters" || method == "summary" || method == "description" ||
                   method == "servers" || method == "$ref",
               absl::StrCat(where, ": not a path item field"));
        continue;
      }
      if (operation.contains("operationId")) {
        expect(operation_ids.insert(operation["operationId"].get<std::string>()).second,
               absl::StrCat(where, ": duplicate operationId"));
      }
      const json responses = operation.value("responses", json());
      expect(responses.is_object() && !responses.empty(), absl::StrCat(where, ": no responses"));
      if (responses.is_object()) {
        static const std::regex kCode("^(default|[1-5](XX|[0-9][0-9]))$");
        for (const auto& [code, response] : responses.items()) {
          expect(std::regex_match(code, kCode), absl::StrCat(where, ": bad response code ", code));
          expect(response.contains("$ref") ||
                     (response.contains("description") && response["description"].is_string()),
                 absl::StrCat(where, " ", code, ": response without description"));
          if (response.contains("content")) {
            for (const auto& [media, content] : response["content"].items()) {
              expect(content.is_object(),
                     absl::StrCat(where, " ", code, " ", media, ": not an object"));
            }
          }
        }
      }
      for (const json& parameter : operation.value("parameters", json::array())) {
        const bool named = parameter.contains("name") && parameter["name"].is_string();
        const std::string in = parameter.value("in", "");
        expect(named, absl::StrCat(where, ": parameter without a name"));
        expect(in == "path" || in == "query",
               absl::StrCat(where, ": parameter 'in' is '", in, "'"));
        expect(parameter.contains("schema") && parameter["schema"].is_object(),
               absl::StrCat(where, ": parameter without a schema"));
        if (in == "path") {
          expect(parameter.value("required", false),
                 absl::StrCat(where, ": path parameter not required"));
        }
      }
      if (operation.contains("requestBody")) {
        expect(operation["requestBody"].contains("content") &&
                   operation["requestBody"]["content"].is_object(),
               absl::StrCat(where, ": requestBody without content"));
      }
      if (operation.contains("tags")) {
        for (const json& tag : operation["tags"])
          expect(tag.is_string(), absl::StrCat(where, ": bad tag"));
      }
      if (operation.contains("security")) check_security(operation["security"], where);
    }
  }
  return problems;
}

const json& Operation(const json& document, const std::string& path, const std::string& method) {
  REQUIRE(document["paths"].contains(path));
  REQUIRE(document["paths"][path].contains(method));
  return document["paths"][path][method];
}

const json& Schema(const json& document, const std::string& name) {
  REQUIRE(document["components"]["schemas"].contains(name));
  return document["components"]["schemas"][name];
}

json Ref(const std::string& name) {
  return json{{"$ref", absl::StrCat("#/components/schemas/", name)}};
}

}  // namespace

TEST_CASE("every route of the router is in the OpenAPI document with its method and code") {
  const json& document = SpineDocument();
  REQUIRE_FALSE(SpineRoutes().routes().empty());
  for (const Route& route : SpineRoutes().routes()) {
    INFO(route.http_method << " " << route.path.text());
    const json& operation = Operation(document, route.public_path, Lower(route.http_method));
    CHECK(operation["responses"].contains(std::to_string(route.success_code)));
    CHECK(operation["responses"].contains("default"));
    CHECK(operation["tags"] == json::array({route.method->service()->name()}));
  }
  for (const char* path : {"/healthz", "/readyz", "/status", "/metrics", "/openapi.json"}) {
    INFO(path);
    const json& operation = Operation(document, path, "get");
    CHECK(operation["security"] == json::array());
    CHECK(operation["responses"].contains("200"));
  }
  CHECK(
      Operation(document, "/metrics", "get")["responses"]["200"]["content"].contains("text/plain"));
  CHECK(Operation(document, "/status",
                  "get")["responses"]["200"]["content"]["application/json"]["schema"] ==
        Ref("spine.v1.PlatformStatus"));
}

TEST_CASE("the OpenAPI document has the structure OpenAPI 3.1 requires") {
  const json& document = SpineDocument();
  const std::vector<std::string> problems = ValidateOpenApi(document);
  for (const std::string& problem : problems) UNSCOPED_INFO(problem);
  CHECK(problems.empty());
  CHECK(document["openapi"] == "3.1.0");
  CHECK(document["info"]["title"] == "Spine API");
  CHECK(document["info"]["version"] == "1.2.3");
  CHECK(document["servers"] == json::parse(R"([{"url": "/"}])"));
  CHECK(document["components"]["securitySchemes"]["bearerAuth"] ==
        json::parse(R"({"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                        "description": "The accessToken from POST /api/auth/login."})"));
}

TEST_CASE("the OpenAPI validator finds what a broken document lacks") {
  json broken = SpineDocument();
  broken["info"].erase("title");
  broken["paths"]["/api/thoughts"]["get"].erase("responses");
  broken["paths"]["/api/thoughts"]["get"]["parameters"][0]["in"] = "cookie";
  broken["paths"]["/api/thoughts/{id}"]["get"]["parameters"][0].erase("required");
  broken["paths"]["/api/thoughts"]["post"]["operationId"] =
      broken["paths"]["/api/thoughts"]["get"]["operationId"];
  broken["paths"]["/api/thoughts"]["post"]["security"] = json::parse(R"([{"apiKey": []}])");
  CHECK(ValidateOpenApi(broken).size() == 6);
}

TEST_CASE("every $ref in the OpenAPI document resolves to a defined schema or response") {
  const json& document = SpineDocument();
  std::vector<std::string> refs;
  CollectRefs(document, refs);
  CHECK(refs.size() > 50);
  for (const std::string& ref : refs) {
    INFO(ref);
    REQUIRE((ref.rfind("#/components/schemas/", 0) == 0 ||
             ref.rfind("#/components/responses/", 0) == 0));
    CHECK(document.contains(json::json_pointer(ref.substr(1))));
  }
}

TEST_CASE("every path template variable has a required path parameter, and no other") {
  ForEachOperation(SpineDocument(),
                   [](const std::string& path, const std::string& method, const json& operation) {
                     INFO(method << " " << path);
                     std::set<std::string> declared;
                     const json parameters = operation.value("parameters", json::array());
                     for (const json& parameter : parameters) {
                       if (parameter["in"] != "path") continue;
                       CHECK(parameter["required"] == true);
                       declared.insert(parameter["name"].get<std::string>());
                     }
                     const std::vector<std::string> variables = TemplateVariables(path);
                     CHECK(declared == std::set<std::string>(variables.begin(), variables.end()));
                   });
}

TEST_CASE("operationIds in the OpenAPI document are unique") {
  std::set<std::string> ids;
  size_t operations = 0;
  ForEachOperation(SpineDocument(),
                   [&](const std::string&, const std::string&, const json& operation) {
                     ++operations;
                     REQUIRE(operation.contains("operationId"));
                     CHECK(ids.insert(operation["operationId"].get<std::string>()).second);
                   });
  CHECK(ids.size() == operations);
  CHECK(ids.count("ThoughtService_GetThought") == 1);
  // Two bindings of one RPC get two ids.
  CHECK(Operation(SpineDocument(), "/api/plugins/list", "get")["operationId"] !=
        Operation(SpineDocument(), "/api/plugins", "get")["operationId"]);
}

TEST_CASE("message schemas follow protobuf's JSON mapping") {
  const json& document = SpineDocument();
  const json& thought = Schema(document, "spine.v1.Thought");
  CHECK(thought["type"] == "object");
  CHECK(thought["properties"]["id"] == json::parse(R"({"type": "string", "format": "int64"})"));
  CHECK(thought["properties"]["text"] == json::parse(R"({"type": "string"})"));
  CHECK(thought["properties"]["tags"] ==
        json::parse(R"({"type": "array", "items": {"type": "string"}})"));
  CHECK(thought["properties"]["createdAt"] ==
        json::parse(R"({"type": "string", "format": "date-time"})"));
  CHECK(thought["properties"]["updatedAt"]["format"] == "date-time");
  CHECK_FALSE(thought["properties"].contains("create_time"));

  const json& list = Schema(document, "spine.v1.ListThoughtsResponse");
  CHECK(list["properties"]["thoughts"]["items"] == Ref("spine.v1.Thought"));
  CHECK(list["properties"]["nextPageToken"]["type"] == "string");

  const json& status = Schema(document, "spine.v1.PlatformStatus");
  CHECK(status["properties"]["queueLag"] == json::parse(R"({"type": "integer",
                                                            "format": "int32"})"));
  CHECK(status["properties"]["heapUsedMB"] == json::parse(R"({"type": "number",
                                                             "format": "double"})"));
  CHECK(status["properties"]["dbConn"] == json::parse(R"({"type": "boolean"})"));
  CHECK(status["properties"]["services"] ==
        json{{"type", "object"}, {"additionalProperties", Ref("spine.v1.ServiceHealth")}});

  const json& run = Schema(document, "spine.v1.Run");
  CHECK(run["properties"]["state"] == Ref("spine.v1.Run.State"));
  CHECK(run["properties"]["input"] == json::object());  // google.protobuf.Value: any JSON
  CHECK(run["properties"]["steps"]["items"] == Ref("spine.v1.Run.Step"));
  const json& state = Schema(document, "spine.v1.Run.State");
  CHECK(state["type"] == "string");
  CHECK(state["enum"].size() == 6);
  CHECK(state["enum"][1] == "QUEUED");

  CHECK(Schema(document, "spine.v1.Conversation")["properties"]["createdAt"] ==
        json::parse(R"({"type": "string", "format": "date-time"})"));  // Timestamp
  CHECK(Schema(document, "spine.v1.AuditEvent")["properties"]["details"] ==
        json::parse(R"({"type": "object"})"));  // google.protobuf.Struct

  // A plugin that could not be loaded: state FAILED and why (issue 14).
  const json& plugin = Schema(document, "spine.v1.Plugin");
  CHECK(plugin["properties"]["loadError"] == json::parse(R"({"type": "string"})"));
  const json& plugin_state = Schema(document, "spine.v1.Plugin.State");
  CHECK(plugin_state["enum"].back() == "FAILED");
}

TEST_CASE("the error schema is API.md's one shape") {
  const json& document = SpineDocument();
  const json& error = Schema(document, "Error")["properties"]["error"];
  CHECK(error["properties"]["code"]["type"] == "integer");
  CHECK(error["properties"]["status"]["type"] == "string");
  CHECK(error["properties"]["message"]["type"] == "string");
  CHECK(error["properties"]["details"]["items"] == Ref("ErrorInfo"));
  const json& info = Schema(document, "ErrorInfo")["properties"];
  for (const char* key : {"@type", "reason", "domain"}) CHECK(info[key]["type"] == "string");
  CHECK(info["metadata"]["type"] == "object");
  CHECK(info["metadata"]["additionalProperties"] == json::parse(R"({"type": "string"})"));
  ForEachOperation(
      document, [](const std::string& path, const std::string& method, const json& operation) {
        INFO(method << " " << path);
        CHECK(operation["responses"]["default"]["content"]["application/json"]["schema"] ==
              Ref("Error"));
      });
}

TEST_CASE("request bodies, query parameters and responses come from the route") {
  const json& document = SpineDocument();
  const json& create = Operation(document, "/api/thoughts", "post");
  CHECK(create["requestBody"]["content"]["application/json"]["schema"] ==
        Ref("spine.v1.CreateThoughtRequest"));
  CHECK_FALSE(create.contains("parameters"));
  CHECK(create["responses"]["201"]["content"]["application/json"]["schema"] ==
        Ref("spine.v1.Thought"));

  const json& list = Operation(document, "/api/thoughts", "get");
  CHECK_FALSE(list.contains("requestBody"));
  std::vector<std::string> query;
  for (const json& parameter : list["parameters"]) {
    CHECK(parameter["in"] == "query");
    CHECK(parameter["required"] == false);
    query.push_back(parameter["name"].get<std::string>());
  }
  CHECK(query == std::vector<std::string>{"pageSize", "pageToken", "tag", "query"});
  CHECK(list["parameters"][0]["schema"] == json::parse(R"({"type": "integer", "format": "int32",
                                                           "minimum": 0, "maximum": 500})"));

  const json& get = Operation(document, "/api/thoughts/{id}", "get");
  REQUIRE(get["parameters"].size() == 1);
  CHECK(get["parameters"][0] == json::parse(R"({"name": "id", "in": "path", "required": true,
                                   "schema": {"type": "string", "format": "int64"}})"));

  // PATCH: the whole request less the path's id is the body.
  const json& patch = Operation(document, "/api/thoughts/{id}", "patch");
  const json& body = patch["requestBody"]["content"]["application/json"]["schema"];
  CHECK(body["type"] == "object");
  CHECK_FALSE(body["properties"].contains("id"));
  CHECK(body["properties"].contains("text"));
  CHECK(body["properties"].contains("tags"));
  CHECK(body["properties"]["updateMask"]["type"] == "string");  // google.protobuf.FieldMask

  const json& remove = Operation(document, "/api/thoughts/{id}", "delete");
  REQUIRE(remove["responses"].contains("204"));
  CHECK_FALSE(remove["responses"]["204"].contains("content"));
  CHECK_FALSE(remove["responses"].contains("200"));

  const json& stream = Operation(document, "/api/llm/stream", "post");
  CHECK(stream["responses"]["200"]["content"].contains("text/event-stream"));
  CHECK(stream["responses"]["200"]["x-spine-events"]["message"]["data"] ==
        Ref("spine.v1.GenerateStreamEvent"));
}

TEST_CASE("security follows each RPC's access policy") {
  const json& document = SpineDocument();
  const json bearer = json::parse(R"([{"bearerAuth": []}])");
  CHECK(document["security"] == bearer);
  CHECK(Operation(document, "/api/auth/login", "post")["security"] == json::array());
  CHECK(Operation(document, "/api/auth/refresh", "post")["security"] == json::array());
  CHECK(Operation(document, "/api/thoughts", "get")["security"] == bearer);
  const json& create_user = Operation(document, "/api/users", "post");
  CHECK(create_user["security"] == bearer);
  CHECK_THAT(create_user["description"].get<std::string>(), Catch::Contains("admin role required"));
  CHECK_THAT(Operation(document, "/api/thoughts", "get")["description"].get<std::string>(),
             !Catch::Contains("admin"));
  for (const Route& route : SpineRoutes().routes()) {
    INFO(route.http_method << " " << route.path.text());
    const json& security =
        Operation(document, route.public_path, Lower(route.http_method))["security"];
    CHECK(security == (route.access == spine::api::ACCESS_PUBLIC ? json::array() : bearer));
  }
}

TEST_CASE("the OpenAPI document is the same on every build and needs a title and version") {
  absl::StatusOr<std::string> first = BuildOpenApiDocument(SpineRoutes(), {.version = "1"});
  absl::StatusOr<std::string> second = BuildOpenApiDocument(SpineRoutes(), {.version = "1"});
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(*first == *second);
  CHECK(BuildOpenApiDocument(SpineRoutes(), {.version = ""}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(BuildOpenApiDocument(SpineRoutes(), {.title = "", .version = "1"}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("recursive messages, comments, named bodies, unsigned and wrapper types") {
  // A proto built at run time: Spine's own protos have none of these, and generated
  // descriptors carry no comments.
  google::protobuf::FileDescriptorProto file;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(
      R"pb(
        name: "fixture/openapi_fixture.proto"
        package: "fixture"
        syntax: "proto3"
        dependency: "google/protobuf/wrappers.proto"
        dependency: "google/api/annotations.proto"
        dependency: "spine/api/http.proto"
        message_type {
          name: "Node"
          field { name: "id" number: 1 type: TYPE_UINT64 label: LABEL_OPTIONAL }
          field {
            name: "children"
            number: 2
            type: TYPE_MESSAGE
            type_name: ".fixture.Node"
            label: LABEL_REPEATED
          }
          field { name: "blob" number: 3 type: TYPE_BYTES label: LABEL_OPTIONAL }
          field {
            name: "weight"
            number: 4
            type: TYPE_MESSAGE
            type_name: ".google.protobuf.Int32Value"
            label: LABEL_OPTIONAL
          }
          field { name: "small" number: 5 type: TYPE_FIXED32 label: LABEL_OPTIONAL }
        }
        message_type {
          name: "GetNodeRequest"
          field { name: "node_id" number: 1 type: TYPE_UINT64 label: LABEL_OPTIONAL }
          field { name: "depth" number: 2 type: TYPE_INT32 label: LABEL_REPEATED }
        }
        message_type {
          name: "PutNodeRequest"
          field { name: "node_id" number: 1 type: TYPE_UINT64 label: LABEL_OPTIONAL }
          field {
            name: "node"
            number: 2
            type: TYPE_MESSAGE
            type_name: ".fixture.Node"
            label: LABEL_OPTIONAL
          }
          field { name: "dry_run" number: 3 type: TYPE_BOOL label: LABEL_OPTIONAL }
        }
        service {
          name: "NodeService"
          method {
            name: "GetNode"
            input_type: ".fixture.GetNodeRequest"
            output_type: ".fixture.Node"
            options {
              [google.api.http] { get: "/nodes/{node_id}" }
              [spine.api.access]: ACCESS_PUBLIC
            }
          }
          method {
            name: "PutNode"
            input_type: ".fixture.PutNodeRequest"
            output_type: ".fixture.Node"
            options {
              [google.api.http] { put: "/nodes/{node_id}" body: "node" }
              [spine.api.access]: ACCESS_ADMIN
            }
          }
        }
        source_code_info {
          location {
            path: [ 6, 0, 2, 0 ]
            span: [ 0, 0, 1 ]
            leading_comments: " Returns one node.\n With its children.\n"
          }
          location {
            path: [ 4, 0, 2, 0 ]
            span: [ 0, 0, 1 ]
            leading_comments: " Unique.\n"
          }
        }
      )pb",
      &file));
  google::protobuf::SimpleDescriptorDatabase fixture;
  REQUIRE(fixture.Add(file));
  google::protobuf::DescriptorPoolDatabase generated(
      *google::protobuf::DescriptorPool::generated_pool());
  google::protobuf::MergedDescriptorDatabase both(&fixture, &generated);
  google::protobuf::DescriptorPool pool(&both);
  const google::protobuf::FileDescriptor* built = pool.FindFileByName(file.name());
  REQUIRE(built != nullptr);
  absl::StatusOr<RouteTable> routes = RouteTable::Build({built});
  REQUIRE(routes.ok());
  const json document = Document(*routes);
  CHECK(ValidateOpenApi(document).empty());

  const json& node = Schema(document, "fixture.Node");
  CHECK(node["properties"]["children"]["items"] == Ref("fixture.Node"));
  CHECK(node["properties"]["id"] == json::parse(R"({"type": "string", "format": "uint64",
                                                    "description": "Unique."})"));
  CHECK(node["properties"]["blob"] == json::parse(R"({"type": "string",
                                                      "contentEncoding": "base64"})"));
  CHECK(node["properties"]["weight"] == json::parse(R"({"type": ["integer", "null"],
                                                        "format": "int32"})"));
  CHECK(node["properties"]["small"]["minimum"] == 0);

  // Path parameters by JSON name, like every other name.
  const json& get = Operation(document, "/nodes/{nodeId}", "get");
  CHECK(get["summary"] == "Returns one node.");
  CHECK_THAT(get["description"].get<std::string>(), Catch::Contains("With its children."));
  CHECK(get["security"] == json::array());
  REQUIRE(get["parameters"].size() == 2);
  CHECK(get["parameters"][0]["name"] == "nodeId");
  CHECK(get["parameters"][1] == json::parse(R"({"name": "depth", "in": "query", "required": false,
                        "schema": {"type": "array", "items": {"type": "integer", "format": "int32"}},
                        "style": "form", "explode": true})"));

  // body: "node" — the body is that field; what is left (dryRun) is a query parameter.
  const json& put = Operation(document, "/nodes/{nodeId}", "put");
  CHECK(put["requestBody"]["content"]["application/json"]["schema"] == Ref("fixture.Node"));
  REQUIRE(put["parameters"].size() == 2);
  CHECK(put["parameters"][1]["name"] == "dryRun");
  CHECK(put["parameters"][1]["in"] == "query");
  CHECK_THAT(put["description"].get<std::string>(), Catch::Contains("admin role required"));
}

TEST_CASE("every operation has a summary and a description, every field a description") {
  const json& document = DocumentedSpineDocument();
  CHECK(ValidateOpenApi(document).empty());
  for (const json& tag : document["tags"]) {
    INFO(tag["name"]);
    CHECK(tag.contains("description"));
  }
  ForEachOperation(
      document, [](const std::string& path, const std::string& method, const json& operation) {
        INFO(method << " " << path);
        REQUIRE(operation.contains("summary"));
        CHECK_FALSE(operation["summary"].get<std::string>().empty());
        REQUIRE(operation.contains("description"));
        // More than the access note: the RPC's own comment.
        CHECK_FALSE(absl::StartsWith(operation["description"].get<std::string>(), "Access:"));
        const json parameters = operation.value("parameters", json::array());
        for (const json& parameter : parameters) {
          INFO(parameter["name"]);
          CHECK(parameter.contains("description"));
        }
      });
  for (const auto& [name, schema] : document["components"]["schemas"].items()) {
    INFO(name);
    CHECK(schema.contains("description"));
    const json properties = schema.value("properties", json::object());
    for (const auto& [field, property] : properties.items()) {
      INFO(field);
      CHECK(property.contains("description"));
    }
  }
}

TEST_CASE("required fields are marked: requests by their rules, responses by what is printed") {
  const json& document = DocumentedSpineDocument();
  CHECK(Schema(document, "spine.v1.CreateThoughtRequest")["required"] == json{"text"});
  CHECK(Schema(document, "spine.v1.LoginRequest")["required"] == json({"username", "password"}));
  CHECK_FALSE(Schema(document, "spine.v1.ListThoughtsResponse").contains("oneOf"));
  // A response always has every field without presence; messages only when set.
  CHECK(Schema(document, "spine.v1.Thought")["required"] == json({"id", "text", "tags"}));
  CHECK(Schema(document, "spine.v1.Run")["required"] ==
        json({"id", "pipelineId", "state", "steps"}));
  const json& user = Schema(document, "spine.v1.CreateUserRequest")["properties"];
  CHECK(user["username"]["pattern"] == "^[a-z0-9_.-]{3,32}$");
  CHECK(user["password"]["minLength"] == 12);
  CHECK(user["password"]["maxLength"] == 128);
  const json& tags = Schema(document, "spine.v1.CreateThoughtRequest")["properties"]["tags"];
  CHECK(tags["maxItems"] == 16);
  CHECK(tags["items"]["maxLength"] == 64);
}

TEST_CASE("every response code a route can give is documented, errors in the error shape") {
  const json& document = DocumentedSpineDocument();
  ForEachOperation(document, [&](const std::string& path, const std::string& method,
                                 const json& operation) {
    INFO(method << " " << path);
    for (const auto& [code, response] : operation["responses"].items()) {
      if (code == "default" || code[0] == '2') continue;
      INFO(code);
      if (!response.contains("$ref")) {
        // Its own body (/readyz's 503 adds notReady), still the error shape.
        CHECK(response["content"]["application/json"]["schema"]["allOf"][0] == Ref("Error"));
        continue;
      }
      const std::string name =
          response["$ref"].get<std::string>().substr(std::string("#/components/responses/").size());
      const json& shared = document["components"]["responses"][name];
      CHECK(shared["content"]["application/json"]["schema"] == Ref("Error"));
    }
    if (!absl::StartsWith(path, "/api/")) return;
    for (const char* code : {"400", "401", "429", "500", "503", "504"}) {
      CHECK(operation["responses"].contains(code));
    }
  });
  // A run with waitMs: 200 when it ends in time, else 202.
  for (const char* path : {"/api/pipelines/{pipelineId}/runs", "/api/runs"}) {
    const json& responses = Operation(document, path, "post")["responses"];
    CHECK(responses["202"]["content"]["application/json"]["schema"] == Ref("spine.v1.Run"));
    CHECK(responses["200"]["content"]["application/json"]["schema"] == Ref("spine.v1.Run"));
  }
  CHECK(
      Operation(document, "/api/pipelines/{pipelineId}/runs", "post")["responses"].contains("422"));
  const json& invoke = Operation(document, "/api/plugins/{name}/invoke", "post")["responses"];
  for (const char* code : {"404", "413", "415", "502", "504"}) CHECK(invoke.contains(code));
  CHECK_FALSE(Operation(document, "/api/auth/login", "post")["responses"].contains("403"));
  CHECK(Operation(document, "/api/users", "post")["responses"].contains("403"));
  const json& responses = document["components"]["responses"];
  CHECK(responses["Error401"]["headers"].contains("WWW-Authenticate"));
  CHECK(responses["Error429"]["headers"].contains("Retry-After"));
  CHECK_THAT(responses["Error504"]["description"].get<std::string>(),
             Catch::Contains("PLUGIN_TIMEOUT") && Catch::Contains("GENERATION_TIMEOUT"));
  CHECK_THAT(responses["Error422"]["description"].get<std::string>(),
             Catch::Contains("IDEMPOTENCY_KEY_REUSED"));
}

TEST_CASE("the error reasons, /readyz's degraded body and /status's unreachableModels are in it") {
  const json& document = DocumentedSpineDocument();
  const json& reasons = Schema(document, "ErrorInfo")["properties"]["reason"]["examples"];
  for (const char* reason : {"PLUGIN_TIMEOUT", "GENERATION_TIMEOUT", "IDEMPOTENCY_KEY_REUSED",
                             "LAST_ADMIN", "SERVICES_NOT_READY", "RATE_LIMITED"}) {
    INFO(reason);
    CHECK(std::find(reasons.begin(), reasons.end(), reason) != reasons.end());
  }
  const json& readyz = Operation(document, "/readyz", "get")["responses"];
  const json& ready = readyz["200"]["content"]["application/json"]["schema"];
  CHECK(ready["properties"]["status"]["enum"] == json({"ready", "degraded"}));
  CHECK(ready["properties"]["degraded"]["type"] == "array");
  const json& not_ready = readyz["503"]["content"]["application/json"]["schema"]["allOf"];
  CHECK(not_ready[0] == Ref("Error"));
  CHECK(not_ready[1]["properties"].contains("notReady"));
  CHECK(not_ready[1]["properties"].contains("degraded"));
  const json& status = Schema(document, "spine.v1.PlatformStatus")["properties"];
  CHECK(status["unreachableModels"]["additionalProperties"]["type"] == "string");
  CHECK(status["unreachableModels"].contains("description"));
}

TEST_CASE("the SSE route documents its events as the gateway sends them") {
  const json& document = DocumentedSpineDocument();
  const json& ok = Operation(document, "/api/llm/stream", "post")["responses"]["200"];
  CHECK(ok["content"].contains("text/event-stream"));
  const json& events = ok["x-spine-events"];
  // `data:` events are the stream's messages; `event: done` carries the done field's message
  // itself (the unary answer), not a GenerateStreamEvent; `event: error` the error shape.
  CHECK(events["message"]["data"] == Ref("spine.v1.GenerateStreamEvent"));
  CHECK(events["done"]["data"] == Ref("spine.v1.GenerateResponse"));
  CHECK(events["error"]["data"] == Ref("Error"));
  for (const char* line : {"event: done", "event: error", "data:"}) {
    CHECK_THAT(ok["description"].get<std::string>(), Catch::Contains(line));
  }
}

TEST_CASE("a pipeline definition has its real schema, not an object") {
  const json& document = DocumentedSpineDocument();
  const json definition = Ref("spine.v1.PipelineDefinitionV1");
  CHECK(Schema(document, "spine.v1.CreatePipelineRequest")["properties"]["definition"]["$ref"] ==
        definition["$ref"]);
  CHECK(Schema(document, "spine.v1.CreateRunRequest")["properties"]["definition"]["$ref"] ==
        definition["$ref"]);
  CHECK(Schema(document, "spine.v1.Pipeline")["properties"]["definition"]["$ref"] ==
        definition["$ref"]);
  CHECK(Schema(document, "spine.v1.CreatePipelineRequest")["required"] ==
        json({"name", "definition"}));

  const json& v1 = Schema(document, "spine.v1.PipelineDefinitionV1");
  CHECK(v1["required"] == json({"schemaVersion", "steps"}));
  CHECK(v1["properties"]["schemaVersion"]["enum"] == json{1});
  CHECK(v1["properties"]["steps"]["minItems"] == 1);
  CHECK(v1["properties"]["steps"]["maxItems"] == 16);
  CHECK(v1["properties"]["steps"]["items"] == Ref("spine.v1.PipelineStep"));
  CHECK_THAT(v1["description"].get<std::string>(), Catch::Contains("{{steps.<id>.output.x}}"));

  const json& step = Schema(document, "spine.v1.PipelineStep");
  CHECK(step["required"] == json{"id"});
  CHECK(step["properties"]["id"]["pattern"] == "^[A-Za-z][A-Za-z0-9_-]{0,63}$");
  // Exactly one of llm or plugin.
  REQUIRE(step["oneOf"].size() == 2);
  CHECK(step["oneOf"][0]["required"] == json{"llm"});
  CHECK(step["oneOf"][0]["properties"]["llm"] == Ref("spine.v1.LlmStep"));
  CHECK(step["oneOf"][1]["required"] == json{"plugin"});
  CHECK(step["properties"]["llm"]["$ref"] == Ref("spine.v1.LlmStep")["$ref"]);
  CHECK(step["properties"]["plugin"]["$ref"] == Ref("spine.v1.PluginStep")["$ref"]);
  CHECK(Schema(document, "spine.v1.LlmStep")["required"] == json({"model", "prompt"}));
  CHECK(Schema(document, "spine.v1.PluginStep")["required"] == json{"name"});
  const json& llm = Schema(document, "spine.v1.LlmStep")["properties"];
  CHECK(llm["maxTokens"]["maximum"] == 32768);
  CHECK(llm["temperature"]["maximum"] == 2.0);
  const json& retry = Schema(document, "spine.v1.RetryPolicy")["properties"];
  CHECK(retry["maxAttempts"]["maximum"] == 10);
  CHECK(retry["maxBackoffMs"]["maximum"] == 300000);
  CHECK(retry["backoffCoefficient"]["maximum"] == 10.0);
}

}  // namespace spine::gateway
