// The least-privilege declarations in the protos, read the way the Authenticator, the bus and
// storage read them: who may call which internal RPC, use which queue, record which action.
#include "libs/rpc/service_access.h"

#include <catch2/catch.hpp>
#include <string>

#include "spine/api/http.pb.h"

namespace spine::rpc {
namespace {

constexpr char kStorage[] = "/spine.v1.StorageService/";

std::string Storage(const std::string& method) { return kStorage + method; }

}  // namespace

TEST_CASE("services are known by their token subjects, and nothing else is a service") {
  CHECK(AllServices().size() == 5);
  for (const spine::api::Service service : AllServices()) {
    CHECK(ServiceBySubject(SubjectOf(service)) == service);
  }
  CHECK(ServiceBySubject("plugins") == spine::api::SERVICE_PLUGINS);
  CHECK(ServiceBySubject("") == spine::api::SERVICE_UNSPECIFIED);
  CHECK(ServiceBySubject("7") == spine::api::SERVICE_UNSPECIFIED);
  CHECK(ServiceBySubject("Gateway") == spine::api::SERVICE_UNSPECIFIED);
}

TEST_CASE("credentials are the gateway's, conversations llm's, pipelines and runs tasks'") {
  for (const char* method : {"CreateUserRecord", "ListUserRecords", "CreateRefreshToken",
                             "RotateRefreshToken", "RecordLoginFailure", "ResetLoginFailures"}) {
    INFO(method);
    CHECK(MayCallInternal(Storage(method), "gateway"));
    for (const char* other : {"storage", "llm", "plugins", "tasks"}) {
      CHECK_FALSE(MayCallInternal(Storage(method), other));
    }
  }
  CHECK(MayCallInternal(Storage("GetConversationRecord"), "llm"));
  CHECK_FALSE(MayCallInternal(Storage("GetConversationRecord"), "tasks"));
  CHECK(MayCallInternal(Storage("ListRunRecords"), "tasks"));
  CHECK_FALSE(MayCallInternal(Storage("ListRunRecords"), "llm"));
  CHECK_FALSE(MayCallInternal(Storage("ListRunRecords"), "plugins"));
  // spine-plugins may only append its audit events.
  CHECK(MayCallInternal(Storage("AppendAuditEvents"), "plugins"));
  CHECK_FALSE(MayCallInternal(Storage("AppendAuditEvents"), "storage"));
  // Unknown callers and unknown methods fail closed.
  CHECK_FALSE(MayCallInternal(Storage("AppendAuditEvents"), "7"));
  CHECK_FALSE(MayCallInternal(Storage("NoSuchMethod"), "gateway"));
  CHECK_FALSE(MayCallInternal("garbage", "gateway"));
}

TEST_CASE("the event bus's queues admit only the declared publishers and subscribers") {
  const BusQueuePolicy& policy = BusQueuePolicy::Declared();
  CHECK(policy.MayPublish("steps.llm", "tasks"));
  CHECK_FALSE(policy.MayPublish("steps.llm", "plugins"));
  CHECK_FALSE(policy.MayPublish("steps.plugin", "plugins"));
  CHECK(policy.MaySubscribe("steps.llm", "llm"));
  CHECK_FALSE(policy.MaySubscribe("steps.llm", "plugins"));
  CHECK(policy.MaySubscribe("steps.plugin", "plugins"));
  CHECK_FALSE(policy.MaySubscribe("steps.plugin.cancel", "llm"));
  CHECK(policy.MayPublish("steps.results", "plugins"));
  CHECK(policy.RepliesOnly("steps.results"));
  CHECK_FALSE(policy.MaySubscribe("steps.results", "plugins"));
  CHECK(policy.MayPublish("executors.advertise", "llm"));
  CHECK_FALSE(policy.RepliesOnly("executors.advertise"));
  CHECK_FALSE(policy.MayPublish("executors.advertise", "gateway"));
  // Any other queue is spine-tasks' alone.
  CHECK(policy.MayPublish("jobs", "tasks"));
  CHECK(policy.MaySubscribe("jobs", "tasks"));
  CHECK_FALSE(policy.MayPublish("jobs", "llm"));
  CHECK_FALSE(policy.MaySubscribe("jobs", "plugins"));
  CHECK_FALSE(policy.MayPublish("steps.llm", ""));
}

TEST_CASE("a queue without a declaration, and without a fallback, admits nobody") {
  spine::api::BusQueueAccess only;
  only.set_queue("a");
  only.add_publishers(spine::api::SERVICE_LLM);
  const BusQueuePolicy policy({only});
  CHECK(policy.MayPublish("a", "llm"));
  CHECK_FALSE(policy.MaySubscribe("a", "llm"));
  CHECK_FALSE(policy.MayPublish("b", "llm"));
  CHECK_FALSE(policy.RepliesOnly("b"));
}

TEST_CASE("a service may record only its own acts") {
  CHECK(MayRecordAuditAction("plugins", "plugins.invoke"));
  CHECK(MayRecordAuditAction("llm", "llm.generate"));
  CHECK(MayRecordAuditAction("tasks", "bus.dlq.replay"));
  CHECK(MayRecordAuditAction("gateway", "auth.login"));
  CHECK_FALSE(MayRecordAuditAction("plugins", "auth.login"));
  CHECK_FALSE(MayRecordAuditAction("plugins", "llm.generate"));
  CHECK_FALSE(MayRecordAuditAction("plugins", "plugins."));
  CHECK_FALSE(MayRecordAuditAction("plugins", "plugins"));
  CHECK_FALSE(MayRecordAuditAction("plugins", "pluginsx.invoke"));
  CHECK_FALSE(MayRecordAuditAction("7", "plugins.invoke"));
}

}  // namespace spine::rpc
