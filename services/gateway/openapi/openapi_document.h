// The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`), generated at start from the
// same descriptors the router uses — the RouteTable's routes and their request and response
// messages — never from a hand-written list.
//
// Paths and operations come from the routes; component schemas follow protobuf's JSON mapping
// (lowerCamelCase JSON names, 64-bit integers as strings, enums as names, well-known types in
// their JSON forms), one schema per message or enum named by its full proto name
// ("spine.v1.Thought"). Errors are API.md's one shape (`Error`), security is a JWT bearer
// scheme, and the gateway's own operations endpoints are listed too.
//
// Descriptions are the proto comments (an operation's summary is its comment's first sentence);
// `(spine.api.field)` rules become JSON Schema keywords (required, bounds, patterns) and can give
// a Struct field the schema of the message it really holds (a pipeline definition). Every
// operation lists each error status it can answer, in the error shape, with the reason codes
// behind it; server-sent event routes describe their `data`, `done` and `error` events. Pure
// function of its inputs; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "google/protobuf/descriptor.h"
#include "services/gateway/transcode/route_table.h"

namespace spine::gateway {

// The document's `info` object.
struct OpenApiInfo {
  std::string title = "Spine API";
  std::string version{};      // the build's version, e.g. kSpineVersion
  std::string description{};  // optional; omitted when empty
  // Where the descriptions come from: the same protos with SourceCodeInfo (SpineSourceDocs()),
  // looked up by full name. Null: only the routes' own descriptors, which usually have none.
  const google::protobuf::DescriptorPool* docs = nullptr;
};

// The OpenAPI 3.1 document of `routes` and the operations endpoints, as indented JSON. Build it
// once at start and serve the string. INVALID_ARGUMENT when `info` has no title or version;
// INTERNAL when a route is inconsistent with its descriptors (cannot happen for a table from
// RouteTable::Build).
absl::StatusOr<std::string> BuildOpenApiDocument(const RouteTable& routes, const OpenApiInfo& info);

}  // namespace spine::gateway
