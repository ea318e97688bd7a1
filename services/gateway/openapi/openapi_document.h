// The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`), generated at start from the
// same descriptors the router uses — the RouteTable's routes and their request and response
// messages — never from a hand-written list.
//
// Paths and operations come from the routes; component schemas follow protobuf's JSON mapping
// (lowerCamelCase JSON names, 64-bit integers as strings, enums as names, well-known types in
// their JSON forms), one schema per message or enum named by its full proto name
// ("spine.v1.Thought"). Errors are API.md's one shape (`Error`), security is a JWT bearer
// scheme, and the gateway's own operations endpoints are listed too. Pure function of its
// inputs; thread-safe.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "services/gateway/transcode/route_table.h"

namespace spine::gateway {

// The document's `info` object.
struct OpenApiInfo {
  std::string title = "Spine API";
  std::string version{};      // the build's version, e.g. kSpineVersion
  std::string description{};  // optional; omitted when empty
};

// The OpenAPI 3.1 document of `routes` and the operations endpoints, as indented JSON. Build it
// once at start and serve the string. INVALID_ARGUMENT when `info` has no title or version;
// INTERNAL when a route is inconsistent with its descriptors (cannot happen for a table from
// RouteTable::Build).
absl::StatusOr<std::string> BuildOpenApiDocument(const RouteTable& routes, const OpenApiInfo& info);

}  // namespace spine::gateway
