// Templates: type-preserving whole-value substitution, text substitution inside strings, paths
// into objects and lists, and the errors that name what is wrong.
#include "services/tasks/pipeline/template.h"

#include <catch2/catch.hpp>
#include <string>

#include "google/protobuf/util/json_util.h"
#include "libs/rpc/error_info.h"

namespace spine::tasks {
namespace {

using google::protobuf::Value;

Value Json(const std::string& json) {
  Value value;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &value).ok());
  return value;
}

const Value& Context() {
  static const Value context = [] {
    Value v;
    (void)google::protobuf::util::JsonStringToMessage(
        R"({"input": {"text": "hello", "n": 3, "tags": ["a", "b"], "nested": {"ok": true}},
            "steps": {"draft": {"output": {"text": "a draft", "tokens": 7}}}})",
        &v);
    return v;
  }();
  return context;
}

TEST_CASE("a whole-value template keeps the JSON type of what it names") {
  CHECK(RenderTemplate(Json(R"("{{input.n}}")"), Context())->number_value() == 3);
  CHECK(RenderTemplate(Json(R"("{{ input.nested }}")"), Context())
            ->struct_value()
            .fields()
            .at("ok")
            .bool_value());
  CHECK(RenderTemplate(Json(R"("{{input.tags}}")"), Context())->list_value().values_size() == 2);
  CHECK(RenderTemplate(Json(R"("{{steps.draft.output}}")"), Context())
            ->struct_value()
            .fields()
            .at("tokens")
            .number_value() == 7);
}

TEST_CASE("a template inside a longer string becomes text") {
  CHECK(RenderTemplate(Json(R"("say {{input.text}} {{input.n}} times")"), Context())
            ->string_value() == "say hello 3 times");
  CHECK(RenderTemplate(Json(R"("tags: {{input.tags}}")"), Context())->string_value() ==
        R"(tags: ["a","b"])");
  CHECK(*RenderText("{{input.n}}", Context()) == "3");
  CHECK(*RenderText("first: {{input.tags.0}}", Context()) == "first: a");
}

TEST_CASE("objects and lists are rendered element by element; other values kept") {
  const auto rendered = RenderTemplate(
      Json(R"({"a": "{{input.text}}", "b": [1, "{{input.n}}", null, false], "c": 2.5})"),
      Context());
  REQUIRE(rendered.ok());
  const auto& fields = rendered->struct_value().fields();
  CHECK(fields.at("a").string_value() == "hello");
  CHECK(fields.at("b").list_value().values(1).number_value() == 3);
  CHECK(fields.at("b").list_value().values(2).has_null_value());
  CHECK(fields.at("c").number_value() == 2.5);
}

TEST_CASE("a missing path fails with TEMPLATE_PATH_MISSING naming it") {
  for (const char* text : {R"("{{input.nope}}")", R"("x {{steps.draft.output.text.deeper}}")",
                           R"("{{input.tags.7}}")", R"("{{input.tags.x}}")"}) {
    INFO(text);
    const auto rendered = RenderTemplate(Json(text), Context());
    REQUIRE(rendered.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(rpc::GetErrorInfo(rendered.status())->reason() == "TEMPLATE_PATH_MISSING");
  }
  const auto missing = RenderTemplate(Json(R"("{{input.nope}}")"), Context());
  CHECK(std::string(missing.status().message()).find("input.nope") != std::string::npos);
}

TEST_CASE("FindTemplates lists every reference and refuses broken ones") {
  auto found =
      FindTemplates(Json(R"({"a": "{{input.x}} and {{steps.s.output}}", "b": ["{{input.y.z}}"]})"));
  REQUIRE(found.ok());
  CHECK(found->size() == 3);
  CHECK(FindTemplates("plain text, no braces")->empty());
  CHECK(FindTemplates("{{input.x").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(FindTemplates("{{}}").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(FindTemplates("{{input..x}}").status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spine::tasks
