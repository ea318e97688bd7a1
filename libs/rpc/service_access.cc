#include "libs/rpc/service_access.h"

#include <utility>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "libs/rpc/method_access.h"
#include "spine/v1/tasks.pb.h"

namespace spine::rpc {
namespace {

using google::protobuf::EnumValueDescriptor;
using spine::api::Service;

const EnumValueDescriptor* ValueOf(Service service) {
  return spine::api::Service_descriptor()->FindValueByNumber(service);
}

bool Lists(const google::protobuf::RepeatedField<int>& services, absl::string_view subject) {
  const Service service = ServiceBySubject(subject);
  return service != spine::api::SERVICE_UNSPECIFIED && absl::c_linear_search(services, service);
}

}  // namespace

Service ServiceBySubject(absl::string_view subject) {
  if (subject.empty()) return spine::api::SERVICE_UNSPECIFIED;
  for (const Service service : AllServices()) {
    if (SubjectOf(service) == subject) return service;
  }
  return spine::api::SERVICE_UNSPECIFIED;
}

std::string SubjectOf(Service service) {
  const EnumValueDescriptor* value = ValueOf(service);
  if (value == nullptr) return "";
  return value->options().GetExtension(spine::api::token_subject);
}

std::vector<Service> AllServices() {
  std::vector<Service> services;
  const google::protobuf::EnumDescriptor* type = spine::api::Service_descriptor();
  for (int i = 0; i < type->value_count(); ++i) {
    const EnumValueDescriptor* value = type->value(i);
    if (!value->options().GetExtension(spine::api::token_subject).empty()) {
      services.push_back(static_cast<Service>(value->number()));
    }
  }
  return services;
}

std::vector<Service> CallersOf(const google::protobuf::MethodDescriptor& method) {
  const auto& options = method.options();
  std::vector<Service> services;
  services.reserve(options.ExtensionSize(spine::api::callers) +
                   method.service()->options().ExtensionSize(spine::api::default_callers));
  for (int i = 0; i < options.ExtensionSize(spine::api::callers); ++i) {
    services.push_back(options.GetExtension(spine::api::callers, i));
  }
  if (!services.empty()) return services;
  const auto& service_options = method.service()->options();
  for (int i = 0; i < service_options.ExtensionSize(spine::api::default_callers); ++i) {
    services.push_back(service_options.GetExtension(spine::api::default_callers, i));
  }
  return services;
}

bool MayCallInternal(absl::string_view method, absl::string_view subject) {
  const google::protobuf::MethodDescriptor* descriptor = FindMethod(method);
  const Service service = ServiceBySubject(subject);
  if (descriptor == nullptr || service == spine::api::SERVICE_UNSPECIFIED) return false;
  return absl::c_linear_search(CallersOf(*descriptor), service);
}

bool MayRecordAuditAction(absl::string_view subject, absl::string_view action) {
  const EnumValueDescriptor* value = ValueOf(ServiceBySubject(subject));
  if (value == nullptr || value->number() == spine::api::SERVICE_UNSPECIFIED) return false;
  const auto& options = value->options();
  for (int i = 0; i < options.ExtensionSize(spine::api::audit_action_prefix); ++i) {
    const std::string& prefix = options.GetExtension(spine::api::audit_action_prefix, i);
    // A prefix ends with '.', and the action must name something after it.
    if (action.size() > prefix.size() && absl::StartsWith(action, prefix)) return true;
  }
  return false;
}

const BusQueuePolicy& BusQueuePolicy::Declared() {
  static const BusQueuePolicy* const policy = [] {
    const google::protobuf::ServiceDescriptor* bus =
        spine::v1::PublishRequest::descriptor()->file()->FindServiceByName("EventBus");
    const auto& options = bus->options();
    std::vector<spine::api::BusQueueAccess> entries;
    entries.reserve(options.ExtensionSize(spine::api::bus_queue));
    for (int i = 0; i < options.ExtensionSize(spine::api::bus_queue); ++i) {
      entries.push_back(options.GetExtension(spine::api::bus_queue, i));
    }
    return new BusQueuePolicy(std::move(entries));
  }();
  return *policy;
}

BusQueuePolicy::BusQueuePolicy(std::vector<spine::api::BusQueueAccess> entries)
    : entries_(std::move(entries)) {}

const spine::api::BusQueueAccess* BusQueuePolicy::EntryFor(absl::string_view queue) const {
  const spine::api::BusQueueAccess* fallback = nullptr;
  for (const spine::api::BusQueueAccess& entry : entries_) {
    if (entry.queue() == queue) return &entry;
    if (entry.queue() == "*") fallback = &entry;
  }
  return fallback;
}

bool BusQueuePolicy::MayPublish(absl::string_view queue, absl::string_view subject) const {
  const spine::api::BusQueueAccess* entry = EntryFor(queue);
  return entry != nullptr && Lists(entry->publishers(), subject);
}

bool BusQueuePolicy::MaySubscribe(absl::string_view queue, absl::string_view subject) const {
  const spine::api::BusQueueAccess* entry = EntryFor(queue);
  return entry != nullptr && Lists(entry->subscribers(), subject);
}

bool BusQueuePolicy::RepliesOnly(absl::string_view queue) const {
  const spine::api::BusQueueAccess* entry = EntryFor(queue);
  return entry != nullptr && entry->replies_only();
}

}  // namespace spine::rpc
