// Spine's public protos with their comments, for the OpenAPI document's descriptions. The
// generated C++ descriptors the router uses carry no comments (protoc drops SourceCodeInfo from
// them), so the build embeds the protos' FileDescriptorSet with source info as well.
#pragma once

#include "google/protobuf/descriptor.h"

namespace spine::gateway {

// The pool of the embedded set, built once; look descriptors up in it by full name. Thread-safe.
// Null only if the embedded bytes do not build (a broken build, reported by the unit tests).
const google::protobuf::DescriptorPool* SpineSourceDocs();

}  // namespace spine::gateway
