// Which callers an RPC admits, read from the `(spine.api.access)` option on its descriptor.
#pragma once

#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "spine/api/http.pb.h"

namespace spine::rpc {

// Makes sure every spine.v1 .proto file is in the generated descriptor pool. The pool only
// holds files whose code is linked in, and a static library member nobody references is not.
void EnsureSpineProtosLinked();

// The spine.v1 proto files (common, auth, storage, llm, plugins, tasks): what the gateway reads
// its routes and OpenAPI document from.
std::vector<const google::protobuf::FileDescriptor*> SpineApiFiles();

// The descriptor of the method at gRPC path `method` ("/package.Service/Method"), or null
// when the path is malformed or names no method linked into this binary.
const google::protobuf::MethodDescriptor* FindMethod(absl::string_view method);

// `method` is the gRPC path, "/package.Service/Method". Health and reflection are public;
// methods unknown to this binary require authentication (fail closed).
spine::api::Access AccessOf(absl::string_view method);

}  // namespace spine::rpc
