#include "libs/rpc/method_access.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "google/protobuf/descriptor.h"
#include "spine/v1/auth.pb.h"
#include "spine/v1/common.pb.h"
#include "spine/v1/llm.pb.h"
#include "spine/v1/plugins.pb.h"
#include "spine/v1/storage.pb.h"
#include "spine/v1/tasks.pb.h"

namespace spine::rpc {

void EnsureSpineProtosLinked() {
  static const bool linked = [] {
    // One message per file is enough to pull that file's registration in.
    return spine::v1::ServiceStatus::descriptor() != nullptr &&
           spine::v1::User::descriptor() != nullptr && spine::v1::Model::descriptor() != nullptr &&
           spine::v1::Plugin::descriptor() != nullptr &&
           spine::v1::Thought::descriptor() != nullptr && spine::v1::Run::descriptor() != nullptr;
  }();
  (void)linked;
}

std::vector<const google::protobuf::FileDescriptor*> SpineApiFiles() {
  // One message per file names the file; the order is the order routes are listed in.
  return {spine::v1::ServiceStatus::descriptor()->file(), spine::v1::User::descriptor()->file(),
          spine::v1::Thought::descriptor()->file(),       spine::v1::Model::descriptor()->file(),
          spine::v1::Plugin::descriptor()->file(),        spine::v1::Run::descriptor()->file()};
}

const google::protobuf::MethodDescriptor* FindMethod(absl::string_view method) {
  EnsureSpineProtosLinked();
  absl::string_view name = method;
  if (!absl::ConsumePrefix(&name, "/")) return nullptr;
  std::string full_name(name);
  // Exactly "/Service/Method": one more slash, with no slash in the service name.
  const size_t slash = full_name.find('/');
  if (slash == std::string::npos || full_name.find('/', slash + 1) != std::string::npos) {
    return nullptr;
  }
  full_name[slash] = '.';
  return google::protobuf::DescriptorPool::generated_pool()->FindMethodByName(full_name);
}

spine::api::Access AccessOf(absl::string_view method) {
  if (absl::StartsWith(method, "/grpc.health.v1.Health/") ||
      absl::StartsWith(method, "/grpc.reflection.v1alpha.ServerReflection/") ||
      absl::StartsWith(method, "/grpc.reflection.v1.ServerReflection/")) {
    return spine::api::ACCESS_PUBLIC;
  }
  const google::protobuf::MethodDescriptor* descriptor = FindMethod(method);
  if (descriptor == nullptr) return spine::api::ACCESS_AUTHENTICATED;
  if (descriptor->options().HasExtension(spine::api::access)) {
    return descriptor->options().GetExtension(spine::api::access);
  }
  return descriptor->service()->options().GetExtension(spine::api::default_access);
}

}  // namespace spine::rpc
