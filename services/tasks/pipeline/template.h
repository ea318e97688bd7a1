// Templates in pipeline definitions (API.md "Pipelines and runs"): `{{input.x.y}}` and
// `{{steps.<id>.output.x}}` inside strings of a step's prompt or input and of the pipeline's
// output.
//
// A string that is exactly one template is replaced by the value it names, keeping its JSON type
// (an object stays an object, a number a number). A template inside a longer string is replaced
// by the value's text: a string as it is, anything else as compact JSON. Lists and objects are
// rendered element by element; other values are left alone. Path segments are object keys or,
// on a list, decimal indexes.
#pragma once

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

// `value` with its templates replaced by what they name in `context` (an object with `input`
// and `steps.<id>.output`). A reference to a path that is not there is FAILED_PRECONDITION with
// reason TEMPLATE_PATH_MISSING, naming the path: the step cannot run, and retrying will not help.
absl::StatusOr<google::protobuf::Value> RenderTemplate(const google::protobuf::Value& value,
                                                       const google::protobuf::Value& context);

// As RenderTemplate, for a string that must come out as text (an LLM prompt): a whole-value
// template naming a non-string is its compact JSON.
absl::StatusOr<std::string> RenderText(absl::string_view text,
                                       const google::protobuf::Value& context);

// `value` as compact JSON text.
std::string CompactJson(const google::protobuf::Value& value);

}  // namespace spine::tasks
