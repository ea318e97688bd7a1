// spine-storage's conversation, pipeline and run records over gRPC, as spine-llm and
// spine-tasks use them: service tokens, per-user scoping, idempotency, and runs that survive
// a crash of storage.
#include <catch2/catch.hpp>
#include <csignal>

#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/integration/storage_client.h"

namespace spine::testing {
namespace {

spine::v1::ConversationMessageRecord Message(const std::string& role, const std::string& content) {
  spine::v1::ConversationMessageRecord message;
  message.set_role(role);
  message.set_content(content);
  return message;
}

spine::v1::CreateRunRecordRequest NewRun(int64_t user, int64_t pipeline, const std::string& key) {
  spine::v1::CreateRunRecordRequest request;
  request.mutable_run()->set_user_id(user);
  request.mutable_run()->set_pipeline_id(pipeline);
  request.mutable_run()->set_state("QUEUED");
  request.mutable_run()->set_idempotency_key(key);
  request.mutable_run()->set_run(std::string("\x08\x01serialized", 12));
  return request;
}

std::vector<int64_t> UnfinishedRunIds(InternalClient& storage) {
  spine::v1::ListRunRecordsRequest request;
  request.add_unfinished_states("QUEUED");
  request.add_unfinished_states("RUNNING");
  request.set_page_size(500);
  spine::v1::ListRunRecordsResponse response;
  REQUIRE(storage->ListRunRecords(storage.Context().get(), request, &response).ok());
  std::vector<int64_t> ids;
  ids.reserve(response.runs_size());
  for (const auto& run : response.runs()) ids.push_back(run.id());
  return ids;
}

}  // namespace

TEST_CASE("a conversation keeps its turns in order and refuses a stale append") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  InternalClient storage(stack, "llm");

  spine::v1::CreateConversationRecordRequest create;
  create.set_user_id(7);
  create.set_model("stub");
  create.set_title("planning");
  create.set_system("be brief");
  spine::v1::ConversationRecord conversation;
  REQUIRE(storage->CreateConversationRecord(storage.Context().get(), create, &conversation).ok());
  CHECK(conversation.id() > 0);
  CHECK(conversation.state() == "idle");
  CHECK(conversation.has_create_time());

  spine::v1::AppendConversationMessagesRequest append;
  append.set_user_id(7);
  append.set_id(conversation.id());
  append.set_expect_state("idle");
  append.set_new_state("idle");
  *append.add_messages() = Message("user", "hello");
  *append.add_messages() = Message("assistant", "hi there");
  spine::v1::ConversationRecord after;
  REQUIRE(storage->AppendConversationMessages(storage.Context().get(), append, &after).ok());
  REQUIRE(after.messages_size() == 2);
  CHECK(after.messages(1).content() == "hi there");
  CHECK(after.messages(0).has_create_time());

  append.set_expect_state("generating");
  CHECK(storage->AppendConversationMessages(storage.Context().get(), append, &after).error_code() ==
        grpc::StatusCode::ABORTED);
  append.set_expect_state("idle");
  append.set_user_id(8);
  CHECK(storage->AppendConversationMessages(storage.Context().get(), append, &after).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  spine::v1::GetConversationRecordRequest get;
  get.set_user_id(7);
  get.set_id(conversation.id());
  get.set_include_messages(true);
  spine::v1::ConversationRecord fetched;
  REQUIRE(storage->GetConversationRecord(storage.Context().get(), get, &fetched).ok());
  CHECK(fetched.messages_size() == 2);
  CHECK(fetched.system() == "be brief");

  spine::v1::ListConversationRecordsRequest list;
  list.set_user_id(7);
  spine::v1::ListConversationRecordsResponse listed;
  REQUIRE(storage->ListConversationRecords(storage.Context().get(), list, &listed).ok());
  REQUIRE(listed.conversations_size() == 1);
  CHECK(listed.conversations(0).messages_size() == 0);
  list.set_user_id(8);
  REQUIRE(storage->ListConversationRecords(storage.Context().get(), list, &listed).ok());
  CHECK(listed.conversations_size() == 0);

  spine::v1::DeleteConversationRecordRequest remove;
  remove.set_user_id(7);
  remove.set_id(conversation.id());
  google::protobuf::Empty empty;
  REQUIRE(storage->DeleteConversationRecord(storage.Context().get(), remove, &empty).ok());
  CHECK(storage->GetConversationRecord(storage.Context().get(), get, &fetched).error_code() ==
        grpc::StatusCode::NOT_FOUND);
}

TEST_CASE("a pipeline definition comes back exactly as stored") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  InternalClient storage(stack, "tasks");

  spine::v1::CreatePipelineRecordRequest create;
  create.set_user_id(3);
  create.set_name("summarise then shout");
  REQUIRE(google::protobuf::util::JsonStringToMessage(
              R"({"schemaVersion": 1, "steps": [{"id": "draft", "llm": {"model": "stub",
                  "prompt": "Summarise: {{input.text}}"}, "timeoutMs": 30000}],
                  "output": {"summary": "{{steps.draft.output}}"}})",
              create.mutable_definition())
              .ok());
  spine::v1::PipelineRecord pipeline;
  REQUIRE(storage->CreatePipelineRecord(storage.Context().get(), create, &pipeline).ok());
  spine::v1::GetPipelineRecordRequest get;
  get.set_user_id(3);
  get.set_id(pipeline.id());
  spine::v1::PipelineRecord fetched;
  REQUIRE(storage->GetPipelineRecord(storage.Context().get(), get, &fetched).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(fetched.definition(),
                                                           create.definition()));
  CHECK(fetched.name() == "summarise then shout");
  get.set_user_id(4);
  CHECK(storage->GetPipelineRecord(storage.Context().get(), get, &fetched).error_code() ==
        grpc::StatusCode::NOT_FOUND);

  create.set_name("");
  CHECK(storage->CreatePipelineRecord(storage.Context().get(), create, &pipeline).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_CASE("user tokens cannot reach the internal record RPCs") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
  REQUIRE(key.ok());
  JwtSigner signer(std::move(*key), RealClock::Instance());
  for (const char* role : {"user", "admin"}) {
    INFO(role);
    auto stub =
        spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
    auto context = rpc::MakeClientContext(absl::Seconds(10));
    context->AddMetadata("authorization", "Bearer " + *signer.Sign("7", "alice", role));
    spine::v1::ListRunRecordsRequest request;
    request.set_user_id(7);
    spine::v1::ListRunRecordsResponse response;
    CHECK(stub->ListRunRecords(context.get(), request, &response).error_code() ==
          grpc::StatusCode::PERMISSION_DENIED);
  }
}

TEST_CASE("runs are idempotent per key and unfinished runs survive a crash of storage") {
  Constellation stack(std::vector<std::string>{"storage"});
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  InternalClient storage(stack, "tasks");

  spine::v1::CreateRunRecordResponse first;
  REQUIRE(storage->CreateRunRecord(storage.Context().get(), NewRun(1, 5, "k-1"), &first).ok());
  CHECK(first.created());
  spine::v1::CreateRunRecordResponse again;
  REQUIRE(storage->CreateRunRecord(storage.Context().get(), NewRun(1, 5, "k-1"), &again).ok());
  CHECK_FALSE(again.created());
  CHECK(again.run().id() == first.run().id());
  spine::v1::CreateRunRecordResponse other;
  REQUIRE(storage->CreateRunRecord(storage.Context().get(), NewRun(2, 5, "k-1"), &other).ok());
  CHECK(other.created());
  CHECK(other.run().id() != first.run().id());

  spine::v1::UpdateRunRecordRequest update;
  *update.mutable_run() = first.run();
  update.mutable_run()->set_state("SUCCEEDED");
  update.mutable_run()->set_run("done");
  spine::v1::RunRecord updated;
  REQUIRE(storage->UpdateRunRecord(storage.Context().get(), update, &updated).ok());
  CHECK(updated.state() == "SUCCEEDED");
  update.mutable_run()->set_state("RUNNING");
  CHECK(storage->UpdateRunRecord(storage.Context().get(), update, &updated).error_code() ==
        grpc::StatusCode::ABORTED);

  CHECK(UnfinishedRunIds(storage) == std::vector<int64_t>{other.run().id()});

  // SIGKILL: no clean shutdown, only what was committed survives, and all of it must.
  stack.process("storage").Signal(SIGKILL);
  REQUIRE(stack.process("storage").WaitExit(absl::Seconds(10)).has_value());
  stack.Restart("storage");
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  CHECK(UnfinishedRunIds(storage) == std::vector<int64_t>{other.run().id()});
  spine::v1::GetRunRecordRequest get;
  get.set_user_id(1);
  get.set_id(first.run().id());
  spine::v1::RunRecord fetched;
  REQUIRE(storage->GetRunRecord(storage.Context().get(), get, &fetched).ok());
  CHECK(fetched.state() == "SUCCEEDED");
  CHECK(fetched.run() == "done");
}

}  // namespace spine::testing
