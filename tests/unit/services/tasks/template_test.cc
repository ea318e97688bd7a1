// Templates: type-preserving whole-value substitution, text substitution inside strings, paths
// into objects and lists, and the errors that name what is wrong.
#include "services/tasks/pipeline/template.h"

#include <catch2/catch.hpp>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

// A context whose input holds `fields` ({"s": "xxx…"}).
Value InputContext(const std::string& input_json) {
  return Json(absl::StrCat(R"({"input": )", input_json, R"(, "steps": {}})"));
}

std::string Reason(const absl::Status& status) {
  const auto info = rpc::GetErrorInfo(status);
  return info ? info->reason() : "";
}

std::string Field(const absl::Status& status) {
  const auto info = rpc::GetErrorInfo(status);
  return info && info->metadata().contains("field") ? info->metadata().at("field") : "";
}

std::string Quoted(size_t bytes) { return absl::StrCat("\"", std::string(bytes, 'x'), "\""); }

TEST_CASE("a rendered string is capped at max_value_bytes exactly, naming the place") {
  const RenderLimits limits{.max_value_bytes = 100, .max_total_bytes = 1000};
  // "ab" + 98 bytes is exactly 100: fine.
  const Value fits = InputContext(absl::StrCat(R"({"s": )", Quoted(98), "}"));
  const auto rendered = RenderText("ab{{input.s}}", fits, limits, "steps[0].llm.prompt");
  REQUIRE(rendered.ok());
  CHECK(rendered->size() == 100);
  // One more byte is refused.
  const Value over = InputContext(absl::StrCat(R"({"s": )", Quoted(99), "}"));
  const auto refused = RenderText("ab{{input.s}}", over, limits, "steps[0].llm.prompt");
  REQUIRE(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(Reason(refused.status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(Field(refused.status()) == "steps[0].llm.prompt");
  CHECK(refused.status().message() == "steps[0].llm.prompt: rendered value exceeds 100 bytes");
  // The literal text counts as well: 98 bytes and three literal ones.
  CHECK(Reason(RenderText("ab{{input.s}}c", fits, limits).status()) == "TEMPLATE_OUTPUT_TOO_LARGE");

  // A whole-value template naming a string counts the string's bytes.
  const Value hundred = InputContext(absl::StrCat(R"({"s": )", Quoted(100), "}"));
  CHECK(RenderTemplate(Json(R"({"k": "{{input.s}}"})"), hundred, limits, "output").ok());
  const auto whole =
      RenderTemplate(Json(R"({"k": "{{input.s}}"})"),
                     InputContext(absl::StrCat(R"({"s": )", Quoted(101), "}")), limits, "output");
  CHECK(Reason(whole.status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(whole.status().message() == "output.k: rendered value exceeds 100 bytes");
}

TEST_CASE("a whole-value template naming JSON counts its compact JSON exactly") {
  const Value context =
      InputContext(R"({"o": {"a": [1, 2.5, true, null, "x", -0.1], "b": {}, "c": false}})");
  const auto o_size = static_cast<int64_t>(
      CompactJson(context.struct_value().fields().at("input").struct_value().fields().at("o"))
          .size());
  REQUIRE(o_size == 49);  // {"a":[1,2.5,true,null,"x",-0.1],"b":{},"c":false}
  CHECK(RenderTemplate(Json(R"("{{input.o}}")"), context,
                       {.max_value_bytes = o_size, .max_total_bytes = o_size})
            .ok());
  CHECK(Reason(RenderTemplate(Json(R"("{{input.o}}")"), context,
                              {.max_value_bytes = o_size - 1, .max_total_bytes = o_size})
                   .status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  // Inside a longer string it is its compact JSON text, counted as such.
  CHECK(RenderText("o={{input.o}}", context,
                   {.max_value_bytes = o_size + 2, .max_total_bytes = o_size + 2})
            .ok());
  CHECK(Reason(RenderText("o={{input.o}}", context,
                          {.max_value_bytes = o_size + 1, .max_total_bytes = o_size + 2})
                   .status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
}

TEST_CASE("everything one rendering produces is capped at max_total_bytes exactly") {
  const Value context = InputContext(absl::StrCat(R"({"s": )", Quoted(50), "}"));
  const Value output = Json(R"({"a": "{{input.s}}", "b": ["{{input.s}}"]})");
  CHECK(RenderTemplate(output, context, {.max_value_bytes = 50, .max_total_bytes = 100}, "output")
            .ok());
  const auto over =
      RenderTemplate(output, context, {.max_value_bytes = 50, .max_total_bytes = 99}, "output");
  REQUIRE(Reason(over.status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  // Whichever key comes second (a map has no order) is the one named.
  CHECK((over.status().message() == "output.a: rendered output exceeds 99 bytes in all" ||
         over.status().message() == "output.b[0]: rendered output exceeds 99 bytes in all"));
  CHECK(rpc::GetErrorInfo(over.status())->metadata().at("limit") == "99");

  // A prompt and its system share the total when rendered by one renderer.
  TemplateRenderer renderer(context, {.max_value_bytes = 60, .max_total_bytes = 100});
  REQUIRE(renderer.RenderText("{{input.s}}", "steps[0].llm.prompt").ok());
  CHECK(renderer.total_bytes() == 50);
  const auto system = renderer.RenderText("{{input.s}}!", "steps[0].llm.system");
  CHECK(system.status().message() ==
        "steps[0].llm.system: rendered output exceeds 100 bytes in all");
}

TEST_CASE("amplification shapes are refused, naming the place") {
  const Value context = InputContext(absl::StrCat(R"({"big": )", Quoted(40000), "}"));
  const RenderLimits limits;  // 1 MiB a value, 2 MiB in all

  // The reported attack: 5 000 keys, each the whole input (200 MB had it been rendered).
  Value output;
  auto& fields = *output.mutable_struct_value()->mutable_fields();
  for (int i = 0; i < 5000; ++i) fields[absl::StrCat("k", i)].set_string_value("{{input.big}}");
  const auto keys = RenderTemplate(output, context, limits, "output");
  CHECK(Reason(keys.status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
  CHECK(absl::StartsWith(Field(keys.status()), "output.k"));
  CHECK(absl::StrContains(keys.status().message(), "bytes in all"));

  // Repeated references in one string.
  std::string repeated;
  for (int i = 0; i < 30; ++i) repeated += "{{input.big}}";
  const auto text = RenderText(repeated, context, limits, "steps[2].llm.prompt");
  CHECK(text.status().message() == "steps[2].llm.prompt: rendered value exceeds 1048576 bytes");

  // Nested lists and objects.
  Value nested = Json(R"({"a": [{"b": []}]})");
  auto& list = *(*nested.mutable_struct_value()->mutable_fields())["a"]
                    .mutable_list_value()
                    ->mutable_values(0)
                    ->mutable_struct_value()
                    ->mutable_fields()
                    ->at("b")
                    .mutable_list_value();
  for (int i = 0; i < 100; ++i) list.add_values()->set_string_value("{{input.big}}");
  const auto deep = RenderTemplate(nested, context, limits, "steps[1].plugin.input");
  CHECK(Field(deep.status()) == "steps[1].plugin.input.a[0].b[52]");

  // A whole-value template naming an object that holds the big string, many times over.
  Value objects = Json("[]");
  for (int i = 0; i < 100; ++i)
    objects.mutable_list_value()->add_values()->set_string_value("{{input}}");
  CHECK(Reason(RenderTemplate(objects, context, limits).status()) == "TEMPLATE_OUTPUT_TOO_LARGE");
}

TEST_CASE("Measure counts without rendering; what is not known yet counts as nothing") {
  const Value context = InputContext(absl::StrCat(R"({"s": )", Quoted(50), "}"));
  const Value output = Json(R"({"a": "{{input.s}}", "b": "{{steps.x.output}}",
                                "c": "{{input.s}} and {{steps.x.output.text}}"})");
  TemplateRenderer fits(context, {.max_value_bytes = 55, .max_total_bytes = 105});
  REQUIRE(fits.Measure(output, "output").ok());
  CHECK(fits.total_bytes() == 105);  // 50, nothing, 50 + " and "
  TemplateRenderer over(context, {.max_value_bytes = 55, .max_total_bytes = 104});
  CHECK(Reason(over.Measure(output, "output")) == "TEMPLATE_OUTPUT_TOO_LARGE");
  TemplateRenderer text(context, {.max_value_bytes = 54, .max_total_bytes = 1000});
  CHECK(text.MeasureText("{{input.s}} and {{steps.x.output}}", "p").message() ==
        "p: rendered value exceeds 54 bytes");
  // A malformed template is still an error.
  CHECK(TemplateRenderer(context, {}).MeasureText("{{input.s", "p").code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace spine::tasks
