// Templates in pipeline definitions (API.md "Pipelines and runs"): `{{input.x.y}}` and
// `{{steps.<id>.output.x}}` inside strings of a step's prompt or input and of the pipeline's
// output.
//
// A string that is exactly one template is replaced by the value it names, keeping its JSON type
// (an object stays an object, a number a number). A template inside a longer string is replaced
// by the value's text: a string as it is, anything else as compact JSON. Lists and objects are
// rendered element by element; other values are left alone. Path segments are object keys or,
// on a list, decimal indexes.
//
// What a rendering may produce is bounded (RenderLimits), and checked while rendering.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace spine::tasks {

// One `{{...}}` reference, split at the dots: {"steps", "draft", "output", "text"}.
using TemplatePath = std::vector<std::string>;

// The references in `text`, in order. INVALID_ARGUMENT for a `{{` without its `}}`, an empty
// reference or an empty segment (`{{input..x}}`), naming the reference.
absl::StatusOr<std::vector<TemplatePath>> FindTemplates(absl::string_view text);

// Every reference in the strings of `value`, in order (for validation before a run).
absl::StatusOr<std::vector<TemplatePath>> FindTemplates(const google::protobuf::Value& value);

// How much one rendering may produce (SPINE_TASKS_RENDER_MAX_VALUE_BYTES, _MAX_BYTES). Without
// them a template is an amplifier: `{{input.big}}` a thousand times turns a small request into a
// huge run.
//
// Sizes: a rendered string counts its bytes; a whole-value template naming something other than
// a string counts that value's compact JSON (strings in it as their bytes plus quotes, escapes
// not counted). `max_value_bytes` bounds each string of the template once rendered;
// `max_total_bytes` bounds the sum over everything one rendering produces (a step's prompt and
// system together, a plugin step's input, the pipeline's output). Literals that are not strings
// are copied from the definition and not counted.
struct RenderLimits {
  int64_t max_value_bytes = int64_t{1} << 20;
  int64_t max_total_bytes = int64_t{2} << 20;
};

// Renders templates over `context` (an object with `input` and `steps.<id>.output`) within
// `limits`, counting against one running total across calls (so a prompt and its system share
// it). The limits are checked before each piece is added, so the memory is never spent: beyond
// one, INVALID_ARGUMENT with reason TEMPLATE_OUTPUT_TOO_LARGE whose message begins with the
// place ("output.k12: rendered value exceeds 1048576 bytes") and whose metadata carries it as
// "field" and the limit as "limit". Not thread-safe; `context` must outlive it.
class TemplateRenderer {
 public:
  TemplateRenderer(const google::protobuf::Value& context, RenderLimits limits);

  // `value` with its templates replaced by what they name. `field` names `value` in errors
  // ("output", "steps[1].plugin.input"); below it come ".key" and "[index]". A reference to a
  // path that is not there is FAILED_PRECONDITION with reason TEMPLATE_PATH_MISSING, naming the
  // path: the step cannot run, and retrying will not help.
  absl::StatusOr<google::protobuf::Value> Render(const google::protobuf::Value& value,
                                                 absl::string_view field);

  // As Render, for a string that must come out as text (an LLM prompt): a whole-value template
  // naming a non-string is its compact JSON.
  absl::StatusOr<std::string> RenderText(absl::string_view text, absl::string_view field);

  // Counts what Render / RenderText would produce without producing it, a path that is not in
  // the context counting as nothing (a step that has not run yet): a lower bound, so a run
  // whose templates are already too big over its input alone is refused before it starts.
  // Only TEMPLATE_OUTPUT_TOO_LARGE, and the errors of a malformed template.
  absl::Status Measure(const google::protobuf::Value& value, absl::string_view field);
  absl::Status MeasureText(absl::string_view text, absl::string_view field);

  // Bytes counted so far.
  int64_t total_bytes() const { return total_; }

 private:
  struct Place;  // where in the template a value is, for errors
  // With `out` null these only measure.
  absl::Status Walk(const google::protobuf::Value& value, const Place& place,
                    google::protobuf::Value* out);
  absl::Status Text(absl::string_view text, const Place& place, std::string* out);
  // OK when a string of `value_bytes` (what it holds so far plus its next piece) fits.
  absl::Status Fits(int64_t value_bytes, const Place& place) const;

  const google::protobuf::Value& context_;
  const RenderLimits limits_;
  int64_t total_ = 0;
};

// One-off renderings with a TemplateRenderer of their own.
absl::StatusOr<google::protobuf::Value> RenderTemplate(const google::protobuf::Value& value,
                                                       const google::protobuf::Value& context,
                                                       const RenderLimits& limits = {},
                                                       absl::string_view field = "value");
absl::StatusOr<std::string> RenderText(absl::string_view text,
                                       const google::protobuf::Value& context,
                                       const RenderLimits& limits = {},
                                       absl::string_view field = "text");

// `value` as compact JSON text.
std::string CompactJson(const google::protobuf::Value& value);

}  // namespace spine::tasks
