#include "services/tasks/engine/executor_registry.h"

#include <algorithm>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "libs/bus/step_protocol.h"

namespace spine::tasks {

absl::Status ExecutorRegistry::Advertise(const spine::v1::ExecutorAdvertisement& advertisement,
                                         absl::string_view publisher) {
  if (advertisement.kind() != bus::kLlmStepKind && advertisement.kind() != bus::kPluginStepKind) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: '", advertisement.kind().substr(0, 32), "', must be llm or plugin"));
  }
  if (advertisement.executor().empty()) return absl::InvalidArgumentError("executor: empty");
  if (publisher.empty() || publisher != bus::ExecutorServiceOf(advertisement.kind()) ||
      !absl::StartsWith(advertisement.executor(), absl::StrCat(publisher, "@"))) {
    return absl::PermissionDeniedError(absl::StrCat(
        "service '", publisher.substr(0, 64), "' may not advertise executor '",
        advertisement.executor().substr(0, 128), "' of kind '", advertisement.kind(), "'"));
  }
  if (advertisement.ttl_ms() < 1 || advertisement.ttl_ms() > 600000) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttlMs: ", advertisement.ttl_ms(), ", must be 1..600000"));
  }
  if (advertisement.names_size() > kMaxNames) {
    return absl::InvalidArgumentError(
        absl::StrCat("names: ", advertisement.names_size(), ", at most ", kMaxNames));
  }
  for (int i = 0; i < advertisement.names_size(); ++i) {
    if (advertisement.names(i).empty() || advertisement.names(i).size() > 128) {
      return absl::InvalidArgumentError(
          absl::StrCat("names[", i, "]: ", advertisement.names(i).size(), " characters, 1..128"));
    }
  }
  Entry entry{.kind = advertisement.kind(),
              .names = {advertisement.names().begin(), advertisement.names().end()},
              .expires = clock_.Now() + absl::Milliseconds(advertisement.ttl_ms())};
  absl::MutexLock lock(&mu_);
  // Forget the dead while here, so the map holds only live executors (and a few expired).
  absl::erase_if(executors_,
                 [now = clock_.Now()](const auto& item) { return item.second.expires <= now; });
  if (!executors_.contains(advertisement.executor()) && executors_.size() >= kMaxExecutors) {
    return absl::ResourceExhaustedError(
        absl::StrCat(executors_.size(), " executors advertise already, at most ", kMaxExecutors));
  }
  executors_[advertisement.executor()] = std::move(entry);
  return absl::OkStatus();
}

bool ExecutorRegistry::Has(absl::string_view kind, absl::string_view name) const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  for (const auto& [executor, entry] : executors_) {
    if (entry.kind != kind || entry.expires <= now) continue;
    if (std::find(entry.names.begin(), entry.names.end(), name) != entry.names.end()) return true;
  }
  return false;
}

bool ExecutorRegistry::HasModel(absl::string_view name) const { return Has("llm", name); }
bool ExecutorRegistry::HasPlugin(absl::string_view name) const { return Has("plugin", name); }

std::vector<std::string> ExecutorRegistry::Names(absl::string_view kind) const {
  const absl::Time now = clock_.Now();
  std::set<std::string> names;
  absl::MutexLock lock(&mu_);
  for (const auto& [executor, entry] : executors_) {
    if (entry.kind == kind && entry.expires > now)
      names.insert(entry.names.begin(), entry.names.end());
  }
  return {names.begin(), names.end()};
}

int ExecutorRegistry::LiveExecutors(absl::string_view kind) const {
  const absl::Time now = clock_.Now();
  absl::MutexLock lock(&mu_);
  return static_cast<int>(std::count_if(
      executors_.begin(), executors_.end(),
      [&](const auto& item) { return item.second.kind == kind && item.second.expires > now; }));
}

void ExecutorRegistry::ReportKinds(spine::v1::ServiceStatus* status) const {
  for (const char* kind : {bus::kLlmStepKind, bus::kPluginStepKind}) {
    spine::v1::ExecutorKindStatus* entry = status->add_executor_kinds();
    entry->set_kind(kind);
    entry->set_live_executors(LiveExecutors(kind));
  }
}

}  // namespace spine::tasks
