// Transcoder: an HTTP request → the request message of its route's RPC, and the RPC's response
// message → the HTTP response body, with protobuf's JSON mapping (API.md: lowerCamelCase,
// int64 as strings, enums as names, every field printed).
//
// Path variables, query parameters and the body are merged into one JSON object, which is then
// parsed strictly into the message: unknown fields, wrong types, malformed JSON and invalid
// UTF-8 are INVALID_ARGUMENT naming the field or parameter. Stateless; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/message.h"
#include "services/gateway/transcode/route_table.h"

namespace spine::gateway {

// Query parameters, percent-decoded, in order.
using QueryParams = std::vector<std::pair<std::string, std::string>>;

// At most this many query parameters per request.
inline constexpr size_t kMaxQueryParams = 64;

// Parses "a=1&b=x%20y&b=z" ('+' is a space). INVALID_ARGUMENT naming the parameter for a bad
// %-escape or invalid UTF-8, and for more than kMaxQueryParams parameters.
absl::StatusOr<QueryParams> ParseQueryString(absl::string_view query);

// Builds the request of `route` from the path `bindings`, the `query` parameters and the JSON
// `body` (empty counts as {}). Query parameters name request fields by JSON or proto name,
// dotted for nested fields; repeated fields repeat the parameter; they are accepted only on
// routes whose body is not "*". For a route with body "*" and a FieldMask field `update_mask`
// the client did not set, the mask is filled from the top-level keys of the body (PATCH
// semantics: fields present are replaced). A body key naming a path variable's field must say
// the same value as the path, else INVALID_ARGUMENT naming it.
absl::StatusOr<std::unique_ptr<google::protobuf::Message>> BuildRequest(
    const Route& route, const PathBindings& bindings, const QueryParams& query,
    absl::string_view body);

// Whether a path variable or query parameter can set `field`: scalars, enums, and the
// well-known types whose JSON form is a string or a number (Timestamp, Duration, FieldMask,
// wrappers). The OpenAPI document lists query parameters by the same rule.
bool IsTextParameterField(const google::protobuf::FieldDescriptor* field);

// The JSON body of a response message: every field, zero values included.
absl::StatusOr<std::string> RenderResponse(const google::protobuf::Message& response);

}  // namespace spine::gateway
