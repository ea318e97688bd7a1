// The transcoder's parts against Spine's real protos: path templates, query strings, the route
// table read from the HTTP options, and JSON ⇄ proto for requests and responses.
#include <catch2/catch.hpp>
#include <set>

#include "absl/strings/match.h"
#include "google/api/annotations.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "google/protobuf/descriptor_database.h"
#include "google/protobuf/text_format.h"
#include "libs/rpc/method_access.h"
#include "nlohmann/json.hpp"
#include "services/gateway/transcode/route_table.h"
#include "services/gateway/transcode/transcoder.h"
#include "spine/v1/storage.pb.h"

namespace spine::gateway {
namespace {

const RouteTable& SpineRoutes() {
  static const RouteTable* const table = [] {
    auto built = RouteTable::Build(rpc::SpineApiFiles());
    REQUIRE(built.ok());
    return new RouteTable(*std::move(built));
  }();
  return *table;
}

std::vector<std::string> Segments(const std::string& path) {
  auto segments = SplitPath(path);
  REQUIRE(segments.ok());
  return *segments;
}

const Route& RouteFor(const std::string& method, const std::string& path) {
  auto match = SpineRoutes().Match(method, Segments(path));
  REQUIRE(std::holds_alternative<RouteMatch>(match));
  return *std::get<RouteMatch>(match).route;
}

absl::StatusOr<std::unique_ptr<google::protobuf::Message>> Build(const std::string& method,
                                                                 const std::string& path,
                                                                 const std::string& query,
                                                                 const std::string& body) {
  auto match = SpineRoutes().Match(method, Segments(path));
  REQUIRE(std::holds_alternative<RouteMatch>(match));
  const RouteMatch& found = std::get<RouteMatch>(match);
  auto params = ParseQueryString(query);
  if (!params.ok()) return params.status();
  return BuildRequest(*found.route, found.bindings, *params, body);
}

}  // namespace

TEST_CASE("path templates bind variables to whole decoded segments") {
  auto path = PathTemplate::Parse("/api/plugins/{name}/invoke");
  REQUIRE(path.ok());
  auto bindings = path->Match(Segments("/api/plugins/hello%20world/invoke"));
  REQUIRE(bindings);
  CHECK(*bindings == PathBindings{{"name", "hello world"}});
  CHECK_FALSE(path->Match(Segments("/api/plugins//invoke")));
  CHECK_FALSE(path->Match(Segments("/api/plugins/x/invoke/")));
  CHECK_FALSE(path->Match(Segments("/api/plugins/x")));
  CHECK(path->Expand({"x"}) == "/api/plugins/x/invoke");
  auto nested = PathTemplate::Parse("/v/{run.id}");
  REQUIRE(nested.ok());
  CHECK(nested->Variables() == std::vector<std::string>{"run.id"});
  for (const char* bad : {"", "api", "/a//b", "/a/{}", "/a/{B}", "/a/x{id}", "/a/{id", "/a/{1x}"}) {
    INFO(bad);
    CHECK_FALSE(PathTemplate::Parse(bad).ok());
  }
}

TEST_CASE("paths with bad escapes, invalid UTF-8 or NUL are refused") {
  CHECK_FALSE(SplitPath("/api/%zz").ok());
  CHECK_FALSE(SplitPath("/api/%4").ok());
  CHECK_FALSE(SplitPath("/api/%ff").ok());
  CHECK_FALSE(SplitPath("/api/a%00b").ok());
  CHECK_FALSE(SplitPath("api").ok());
  CHECK(Segments("/a/%2F/b") == std::vector<std::string>{"a", "/", "b"});
}

TEST_CASE("query strings decode plus and percent and keep repetition") {
  auto params = ParseQueryString("a=1&b=x+y&b=%C3%A9&flag&&c=");
  REQUIRE(params.ok());
  CHECK(*params ==
        QueryParams{{"a", "1"}, {"b", "x y"}, {"b", "\xC3\xA9"}, {"flag", ""}, {"c", ""}});
  CHECK_FALSE(ParseQueryString("a=%").ok());
  CHECK_FALSE(ParseQueryString("a=%ff").ok());
  CHECK_FALSE(ParseQueryString("=x").ok());
  std::string many;
  for (size_t i = 0; i <= kMaxQueryParams; ++i) many += "p=1&";
  CHECK_FALSE(ParseQueryString(many).ok());
}

TEST_CASE("the route table holds every annotated RPC of API.md") {
  std::set<std::string> routes;
  for (const Route& route : SpineRoutes().routes()) {
    routes.insert(route.http_method + " " + route.path.text());
  }
  for (const char* expected : {"POST /api/auth/login",
                               "POST /api/auth/refresh",
                               "POST /api/auth/logout",
                               "GET /api/auth/me",
                               "POST /api/users",
                               "GET /api/users",
                               "POST /api/thoughts",
                               "GET /api/thoughts",
                               "GET /api/thoughts/{id}",
                               "PATCH /api/thoughts/{id}",
                               "DELETE /api/thoughts/{id}",
                               "GET /api/plugins/list",
                               "GET /api/plugins",
                               "GET /api/plugins/{name}",
                               "POST /api/plugins/{name}/invoke",
                               "GET /api/llm/models",
                               "POST /api/llm/generate",
                               "POST /api/llm/stream",
                               "POST /api/conversations",
                               "GET /api/conversations",
                               "GET /api/conversations/{id}",
                               "POST /api/conversations/{id}/messages",
                               "DELETE /api/conversations/{id}",
                               "POST /api/pipelines",
                               "GET /api/pipelines",
                               "GET /api/pipelines/{id}",
                               "DELETE /api/pipelines/{id}",
                               "POST /api/pipelines/{pipeline_id}/runs",
                               "POST /api/runs",
                               "GET /api/runs/{id}",
                               "GET /api/runs",
                               "POST /api/runs/{id}/cancel"}) {
    INFO(expected);
    CHECK(routes.count(expected) == 1);
  }
  const Route& create = RouteFor("POST", "/api/thoughts");
  CHECK(create.success_code == 201);
  CHECK(create.upstream == "storage");
  CHECK(create.GrpcPath() == "/spine.v1.ThoughtService/CreateThought");
  CHECK(RouteFor("POST", "/api/auth/login").upstream == "gateway");
  CHECK(RouteFor("POST", "/api/auth/login").access == spine::api::ACCESS_PUBLIC);
  CHECK(RouteFor("DELETE", "/api/thoughts/7").success_code == 204);
  // A literal segment wins over a variable.
  CHECK(RouteFor("GET", "/api/plugins/list").method->name() == "ListPlugins");
  CHECK(RouteFor("GET", "/api/plugins/hello").method->name() == "GetPlugin");
  CHECK(RouteFor("HEAD", "/api/thoughts").method->name() == "ListThoughts");
  // Clients see path variables by their JSON names, like every other name.
  CHECK(RouteFor("POST", "/api/pipelines/3/runs").public_path ==
        "/api/pipelines/{pipelineId}/runs");
  CHECK(RouteFor("GET", "/api/thoughts/3").public_path == "/api/thoughts/{id}");
  auto bad = SpineRoutes().Match("POST", Segments("/api/pipelines/x/runs"));
  REQUIRE(std::holds_alternative<RouteMatch>(bad));
  auto built =
      BuildRequest(*std::get<RouteMatch>(bad).route, std::get<RouteMatch>(bad).bindings, {}, "{}");
  REQUIRE_FALSE(built.ok());
  CHECK(absl::StartsWith(built.status().message(), "pipelineId: "));
}

TEST_CASE("routes are the standard google.api.http bindings, read as other tools read them") {
  // Every binding of every annotated RPC is one route, and nothing else is: what Envoy's
  // transcoder or grpc-gateway would serve from these protos is what the gateway serves.
  std::multiset<std::string> annotated;
  for (const google::protobuf::FileDescriptor* file : rpc::SpineApiFiles()) {
    for (int s = 0; s < file->service_count(); ++s) {
      for (int m = 0; m < file->service(s)->method_count(); ++m) {
        const google::protobuf::MethodDescriptor* method = file->service(s)->method(m);
        if (!method->options().HasExtension(google::api::http)) continue;
        const google::api::HttpRule& rule = method->options().GetExtension(google::api::http);
        annotated.insert(method->full_name());
        for (int b = 0; b < rule.additional_bindings_size(); ++b) {
          annotated.insert(method->full_name());
        }
      }
    }
  }
  std::multiset<std::string> routed;
  for (const Route& route : SpineRoutes().routes()) routed.insert(route.method->full_name());
  CHECK(routed == annotated);
  CHECK(annotated.size() >= 48);

  const google::api::HttpRule& create = spine::v1::CreateThoughtRequest::descriptor()
                                            ->file()
                                            ->FindServiceByName("ThoughtService")
                                            ->FindMethodByName("CreateThought")
                                            ->options()
                                            .GetExtension(google::api::http);
  CHECK(create.post() == "/api/thoughts");
  CHECK(create.body() == "*");
  // Spine's own options carry only what the standard cannot say.
  const Route& generate = RouteFor("POST", "/api/llm/generate");
  CHECK(generate.deadline == absl::Seconds(605));
  REQUIRE(generate.deadline_field != nullptr);
  CHECK(generate.deadline_field->name() == "timeout_ms");
  CHECK(RouteFor("GET", "/api/plugins").method->name() == "ListPlugins");
}

namespace {

// RouteTable::Build over one service whose methods carry `options` (text format, one per method,
// all taking and answering fixture.Req).
absl::StatusOr<RouteTable> BuildFixture(const std::vector<std::string>& options) {
  std::string text = R"pb(
    name: "fixture/routes.proto"
    package: "fixture"
    syntax: "proto3"
    dependency: "google/api/annotations.proto"
    dependency: "spine/api/http.proto"
    message_type {
      name: "Req"
      field { name: "id" number: 1 type: TYPE_INT64 label: LABEL_OPTIONAL }
      field { name: "wait_ms" number: 2 type: TYPE_INT32 label: LABEL_OPTIONAL }
    }
    service { name: "S")pb";
  for (size_t i = 0; i < options.size(); ++i) {
    text += "method { name: \"M" + std::to_string(i) +
            "\" input_type: \".fixture.Req\" output_type: \".fixture.Req\" options { " +
            options[i] + " } } ";
  }
  text += "}";
  google::protobuf::FileDescriptorProto file;
  REQUIRE(google::protobuf::TextFormat::ParseFromString(text, &file));
  // Leaked on purpose: the routes point into the pool.
  auto* fixture = new google::protobuf::SimpleDescriptorDatabase;
  REQUIRE(fixture->Add(file));
  auto* generated = new google::protobuf::DescriptorPoolDatabase(
      *google::protobuf::DescriptorPool::generated_pool());
  auto* both = new google::protobuf::MergedDescriptorDatabase(fixture, generated);
  auto* pool = new google::protobuf::DescriptorPool(both);
  const google::protobuf::FileDescriptor* built = pool->FindFileByName(file.name());
  REQUIRE(built != nullptr);
  return RouteTable::Build({built});
}

}  // namespace

TEST_CASE(
    "Spine's route options apply to every binding; what the gateway cannot serve is refused") {
  absl::StatusOr<RouteTable> table =
      BuildFixture({R"pb([google.api.http] {
                           post: "/things"
                           body: "*"
                           additional_bindings { put: "/things/{id}" body: "*" }
                         }
                         [spine.api.route] {
                           success_code: 201
                           deadline_field: "wait_ms"
                           deadline_ms: 9000
                         })pb",
                    R"pb([google.api.http] {
                           custom { kind: "PATCH" path: "/things/{id}" }
                           body: "*"
                         })pb"});
  REQUIRE(table.ok());
  REQUIRE(table->routes().size() == 3);
  for (const Route& route : table->routes()) {
    INFO(route.http_method << " " << route.path.text());
    if (route.method->name() != "M0") continue;
    CHECK(route.success_code == 201);
    CHECK(route.deadline == absl::Milliseconds(9000));
    REQUIRE(route.deadline_field != nullptr);
    CHECK(route.deadline_field->name() == "wait_ms");
  }
  // A custom binding whose kind is a method the gateway serves is a route like any other.
  CHECK(table->Find("PATCH", "/things/{id}") != nullptr);
  CHECK(table->Find("PATCH", "/things/{id}")->success_code == 200);

  for (const auto& [option, message] : std::vector<std::pair<std::string, std::string>>{
           {R"pb([google.api.http] { get: "/things/{id}" response_body: "id" })pb",
            "response_body is not supported"},
           {R"pb([google.api.http] { custom { kind: "TRACE" path: "/things" } })pb",
            "unknown HTTP method"},
           {R"pb([google.api.http] { get: "/things/{nope}" })pb",
            "path variable 'nope' is not a scalar request field"},
           {R"pb([google.api.http] { get: "/things" }
                 [spine.api.route] { success_code: 302 })pb",
            "success_code must be 2xx"},
           {R"pb([google.api.http] { post: "/things" body: "*" }
                 [spine.api.route] { deadline_field: "id" })pb",
            "deadline_field 'id' is not an int32 request field"}}) {
    INFO(option);
    absl::StatusOr<RouteTable> refused = BuildFixture({option});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(refused.status().message()), Catch::Contains(message));
    CHECK_THAT(std::string(refused.status().message()), Catch::Contains("fixture.S.M0"));
  }
}

TEST_CASE("a known path with the wrong method lists the methods it allows") {
  auto match = SpineRoutes().Match("PUT", Segments("/api/thoughts/5"));
  REQUIRE(std::holds_alternative<MethodNotAllowed>(match));
  const auto allowed = std::get<MethodNotAllowed>(match).allowed;
  CHECK(std::set<std::string>(allowed.begin(), allowed.end()) ==
        std::set<std::string>{"GET", "PATCH", "DELETE"});
  CHECK(std::holds_alternative<NoRoute>(SpineRoutes().Match("GET", Segments("/api/nothing"))));
}

TEST_CASE("a request is built from path, query and body with the JSON mapping") {
  auto get = Build("GET", "/api/thoughts/42", "", "");
  REQUIRE(get.ok());
  CHECK(dynamic_cast<spine::v1::GetThoughtRequest&>(**get).id() == 42);

  auto list =
      Build("GET", "/api/thoughts", "pageSize=5&tag=work&query=quick+fox&pageToken=abc", "");
  REQUIRE(list.ok());
  const auto& list_request = dynamic_cast<spine::v1::ListThoughtsRequest&>(**list);
  CHECK(list_request.page_size() == 5);
  CHECK(list_request.tag() == "work");
  CHECK(list_request.query() == "quick fox");
  CHECK(list_request.page_token() == "abc");
  auto by_proto_name = Build("GET", "/api/thoughts", "page_size=7", "");
  REQUIRE(by_proto_name.ok());
  CHECK(dynamic_cast<spine::v1::ListThoughtsRequest&>(**by_proto_name).page_size() == 7);

  auto create = Build("POST", "/api/thoughts", "", R"({"text":"hi","tags":["a","b"]})");
  REQUIRE(create.ok());
  const auto& create_request = dynamic_cast<spine::v1::CreateThoughtRequest&>(**create);
  CHECK(create_request.text() == "hi");
  CHECK(create_request.tags_size() == 2);
  auto empty_body = Build("POST", "/api/thoughts", "", "");
  REQUIRE(empty_body.ok());
  CHECK(dynamic_cast<spine::v1::CreateThoughtRequest&>(**empty_body).text().empty());
}

TEST_CASE("a body field that contradicts a path variable is refused, the same value passes") {
  auto contradicts = Build("PATCH", "/api/thoughts/9", "", R"({"tags":[],"id":"123"})");
  REQUIRE_FALSE(contradicts.ok());
  CHECK(contradicts.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(absl::StrContains(contradicts.status().message(), "id: given in the body"));
  auto invoke = Build("POST", "/api/plugins/hello-world/invoke", "", R"({"name":"Ada"})");
  REQUIRE_FALSE(invoke.ok());
  CHECK(absl::StrContains(invoke.status().message(), "'hello-world'"));
  for (const char* same : {R"({"tags":[],"id":"9"})", R"({"tags":[],"id":9})"}) {
    auto agrees = Build("PATCH", "/api/thoughts/9", "", same);
    REQUIRE(agrees.ok());
    CHECK(dynamic_cast<spine::v1::UpdateThoughtRequest&>(**agrees).update_mask().paths_size() == 1);
  }
}

TEST_CASE("a PATCH fills the update mask from the keys present") {
  auto patch = Build("PATCH", "/api/thoughts/9", "", R"({"tags":[]})");
  REQUIRE(patch.ok());
  const auto& request = dynamic_cast<spine::v1::UpdateThoughtRequest&>(**patch);
  CHECK(request.id() == 9);
  CHECK(request.tags_size() == 0);
  REQUIRE(request.update_mask().paths_size() == 1);
  CHECK(request.update_mask().paths(0) == "tags");
  CHECK_FALSE(request.has_text());
  auto text_only = Build("PATCH", "/api/thoughts/9", "", R"({"text":"x"})");
  REQUIRE(text_only.ok());
  const auto& text_request = dynamic_cast<spine::v1::UpdateThoughtRequest&>(**text_only);
  CHECK(text_request.update_mask().paths_size() == 1);
  CHECK(text_request.update_mask().paths(0) == "text");
}

TEST_CASE("bad requests are INVALID_ARGUMENT naming what is wrong") {
  struct Case {
    std::string method, path, query, body, mentions;
  };
  const std::vector<Case> cases = {
      {"POST", "/api/thoughts", "", "{", "malformed JSON"},
      {"POST", "/api/thoughts", "", "[1]", "JSON object"},
      {"POST", "/api/thoughts", "", R"({"text":"a","colour":"red"})", "colour"},
      {"POST", "/api/thoughts", "", R"({"text":5})", "text"},
      {"POST", "/api/thoughts", "", R"({"tags":"a"})", "tags"},
      {"POST", "/api/thoughts", "", "{\"text\":\"\xff\"}", "UTF-8"},
      {"POST", "/api/thoughts", "tag=x", R"({"text":"a"})", "tag"},
      {"GET", "/api/thoughts/abc", "", "", "id"},
      {"GET", "/api/thoughts/99999999999999999999", "", "", "id"},
      {"GET", "/api/thoughts", "pageSize=ten", "", "pageSize"},
      {"GET", "/api/thoughts", "pageSize=1&pageSize=2", "", "pageSize"},
      {"GET", "/api/thoughts", "colour=red", "", "colour"},
      {"GET", "/api/thoughts/5", "id=6", "", "id"},
  };
  for (const Case& c : cases) {
    INFO(c.method << " " << c.path << "?" << c.query << " " << c.body);
    auto built = Build(c.method, c.path, c.query, c.body);
    REQUIRE_FALSE(built.ok());
    CHECK(built.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(built.status().message()), Catch::Contains(c.mentions));
  }
}

TEST_CASE("a deeply nested body is refused before it is parsed") {
  const std::string deep = "{\"x\":" + std::string(60000, '[') + std::string(60000, ']') + "}";
  auto built = Build("POST", "/api/auth/login", "", deep);
  REQUIRE_FALSE(built.ok());
  CHECK(built.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(built.status().message()), Catch::Contains("nested deeper than 64"));
  // Brackets inside strings are text, not nesting.
  auto text = Build("POST", "/api/thoughts", "", "{\"text\":\"" + std::string(200, '[') + "\"}");
  CHECK(text.ok());
}

TEST_CASE("strict JSON: duplicate keys, NUL characters and a byte-order mark are refused") {
  struct Case {
    std::string body, mentions;
  };
  const std::vector<Case> cases = {
      {R"({"text":"a","text":"b"})", "duplicate key 'text'"},
      {R"({"text":"a","tags":["x"],"tags":[]})", "duplicate key 'tags'"},
      {R"({"text":"a\u0000b"})", "text: contains a NUL"},
      {R"({"text":"a","tags":["ok","x\u0000"]})", "tags: contains a NUL"},
      {R"({"te\u0000xt":"a"})", "NUL"},
      {"\xEF\xBB\xBF{\"text\":\"a\"}", "byte-order mark"},
  };
  for (const Case& c : cases) {
    INFO(c.body);
    auto built = Build("POST", "/api/thoughts", "", c.body);
    REQUIRE_FALSE(built.ok());
    CHECK(built.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK_THAT(std::string(built.status().message()), Catch::Contains(c.mentions));
  }
  // The same key in different objects is no duplicate.
  CHECK(
      Build("POST", "/api/plugins/echo/invoke", "", R"({"input":{"a":{"a":1},"b":{"a":2}}})").ok());
}

TEST_CASE("free-form JSON nested past what protobuf decodes is refused naming the field") {
  // 40 levels of objects inside a google.protobuf.Value: within the body's 64 levels, but over
  // protobuf's 100 message levels once each costs three.
  // {"a":{"a":...1...}}, 40 deep.
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "{\"a\":";
  deep += "1" + std::string(40, '}');
  auto built = Build("POST", "/api/plugins/echo/invoke", "", "{\"input\":" + deep + "}");
  REQUIRE_FALSE(built.ok());
  CHECK(built.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(built.status().message()), Catch::Contains("input: nested deeper than"));
  std::string fine;
  for (int i = 0; i < 20; ++i) fine += "{\"a\":";
  fine += "1" + std::string(20, '}');
  CHECK(Build("POST", "/api/plugins/echo/invoke", "", "{\"input\":" + fine + "}").ok());
}

TEST_CASE("responses print every field in lowerCamelCase with int64 as strings") {
  spine::v1::Thought thought;
  thought.set_id(42);
  auto json = RenderResponse(thought);
  REQUIRE(json.ok());
  const auto parsed = nlohmann::json::parse(*json);
  CHECK(parsed["id"] == "42");
  CHECK(parsed["text"] == "");
  CHECK(parsed["tags"] == nlohmann::json::array());
  spine::v1::ListThoughtsResponse list;
  auto list_json = RenderResponse(list);
  REQUIRE(list_json.ok());
  CHECK(nlohmann::json::parse(*list_json).contains("nextPageToken"));
}

}  // namespace spine::gateway
