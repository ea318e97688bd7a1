#include "services/gateway/openapi/source_docs.h"

#include "google/protobuf/descriptor.pb.h"
#include "spine/api/source_docs.h"

namespace spine::gateway {

const google::protobuf::DescriptorPool* SpineSourceDocs() {
  static const google::protobuf::DescriptorPool* const pool =
      []() -> const google::protobuf::DescriptorPool* {
    google::protobuf::FileDescriptorSet set;
    const std::string_view bytes = spine::api::SourceDocsDescriptorSet();
    if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return nullptr;
    auto* built = new google::protobuf::DescriptorPool();
    // --include_imports lists every file after its dependencies, so each one builds in turn.
    for (const google::protobuf::FileDescriptorProto& file : set.file()) {
      if (built->BuildFile(file) == nullptr) {
        delete built;
        return nullptr;
      }
    }
    return built;
  }();
  return pool;
}

}  // namespace spine::gateway
