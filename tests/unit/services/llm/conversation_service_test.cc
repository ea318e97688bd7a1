// ConversationService over gRPC: the real service class in an in-process server, the real
// ConversationOrchestrator over an in-memory store, replies from a real RunnerPool over stub
// backends, and real JWT authentication (service_test_env.h).
#include "services/llm/conversation_service.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/synchronization/notification.h"
#include "libs/core/worker_pool.h"
#include "services/llm/conversation_orchestrator.h"
#include "services/llm/pool_reply_generator.h"
#include "spine/v1/llm.grpc.pb.h"
#include "tests/unit/services/llm/fake_conversation_store.h"
#include "tests/unit/services/llm/service_test_env.h"

namespace spine::llm {
namespace {

using spine::v1::Conversation;
using spine::v1::SendMessageResponse;

// A SendMessage call running in the background.
struct PendingSend {
  grpc::ClientContext context;
  spine::v1::SendMessageRequest request;
  SendMessageResponse response;
  grpc::Status status;
  absl::Notification done;
};

struct Fixture {
  Fixture() {
    env.Serve({&service});
    stub = spine::v1::ConversationService::NewStub(env.channel());
  }
  ~Fixture() {
    env.Shutdown();
    store_pool->Shutdown();
  }

  Conversation Create(const std::string& model, const std::string& system,
                      const std::string& user = "7") {
    grpc::ClientContext context;
    env.Prepare(context, user);
    spine::v1::CreateConversationRequest request;
    request.set_model(model);
    if (!system.empty()) request.set_system(system);
    request.set_title("a title");
    Conversation conversation;
    REQUIRE(stub->CreateConversation(&context, request, &conversation).ok());
    return conversation;
  }

  grpc::Status Send(int64_t id, const std::string& content, SendMessageResponse* response,
                    const std::string& user = "7") {
    grpc::ClientContext context;
    env.Prepare(context, user);
    spine::v1::SendMessageRequest request;
    request.set_id(id);
    request.set_content(content);
    return stub->SendMessage(&context, request, response);
  }

  std::unique_ptr<PendingSend> StartSend(int64_t id, const std::string& content) {
    auto call = std::make_unique<PendingSend>();
    env.Prepare(call->context, "7");
    call->request.set_id(id);
    call->request.set_content(content);
    PendingSend* raw = call.get();
    stub->async()->SendMessage(&raw->context, &raw->request, &raw->response,
                               [raw](grpc::Status status) {
                                 raw->status = std::move(status);
                                 raw->done.Notify();
                               });
    return call;
  }

  grpc::Status Get(int64_t id, Conversation* conversation, const std::string& user = "7") {
    grpc::ClientContext context;
    env.Prepare(context, user);
    spine::v1::GetConversationRequest request;
    request.set_id(id);
    return stub->GetConversation(&context, request, conversation);
  }

  ServiceTestEnv env;
  FakeConversationStore store;
  PoolReplyGenerator generator{env.admission()};
  std::unique_ptr<WorkerPool> store_pool = *WorkerPool::Create(1, 16);
  ConversationOrchestrator orchestrator{
      store, generator, {{"stub", 1000}, {"stub-slow", 1000}}, *store_pool};
  ConversationService service{orchestrator, store, env.authenticator(), /*max_message_chars=*/40};
  std::unique_ptr<spine::v1::ConversationService::Stub> stub;
};

}  // namespace

TEST_CASE_METHOD(Fixture, "a new conversation shows its system prompt as the first message") {
  const Conversation created = Create("stub", "be brief");
  CHECK(created.id() > 0);
  CHECK(created.model() == "stub");
  CHECK(created.title() == "a title");
  CHECK(created.has_create_time());
  REQUIRE(created.messages_size() == 1);
  CHECK(created.messages(0).role() == "system");
  CHECK(created.messages(0).content() == "be brief");

  CHECK(Create("stub", "").messages_size() == 0);

  Conversation got;
  REQUIRE(Get(created.id(), &got).ok());
  CHECK(got.messages_size() == 1);

  grpc::ClientContext context;
  env.Prepare(context, "7");
  spine::v1::ListConversationsRequest request;
  request.set_page_size(5);
  request.set_page_token("next");
  spine::v1::ListConversationsResponse list;
  REQUIRE(stub->ListConversations(&context, request, &list).ok());
  CHECK(list.conversations_size() == 2);
  CHECK(list.conversations(0).messages_size() == 0);
  CHECK(store.last_page_size() == 5);
  CHECK(store.last_page_token() == "next");
}

TEST_CASE_METHOD(Fixture, "a conversation on an unknown model is NOT_FOUND MODEL_NOT_FOUND") {
  grpc::ClientContext context;
  env.Prepare(context, "7");
  spine::v1::CreateConversationRequest request;
  request.set_model("gpt-9");
  Conversation conversation;
  const grpc::Status status = stub->CreateConversation(&context, request, &conversation);
  CHECK(status.error_code() == grpc::StatusCode::NOT_FOUND);
  CHECK(ReasonOf(status) == "MODEL_NOT_FOUND");
}

TEST_CASE_METHOD(Fixture, "a message gets the reply appended to the conversation") {
  const Conversation created = Create("stub", "be brief");
  SendMessageResponse response;
  REQUIRE(Send(created.id(), "hello there", &response).ok());
  const std::string expected = absl::StrJoin(
      StubBackend::ReplyTokens({{"system", "be brief"}, {"user", "hello there"}}), "");
  CHECK(response.reply().role() == "assistant");
  CHECK(response.reply().content() == expected);
  CHECK(response.reply().has_create_time());
  const Conversation& conversation = response.conversation();
  CHECK(conversation.id() == created.id());
  REQUIRE(conversation.messages_size() == 3);
  CHECK(conversation.messages(0).role() == "system");
  CHECK(conversation.messages(1).role() == "user");
  CHECK(conversation.messages(1).content() == "hello there");
  CHECK(conversation.messages(2).content() == expected);
  CHECK(store.StateOf(created.id()) == kStateIdle);

  // The reply is audited like any generation, under its own action.
  const auto events = env.audit_sink().events();
  REQUIRE(events.size() == 1);
  CHECK(events[0].action() == "llm.conversation.reply");
  CHECK(events[0].actor() == "7");
  CHECK(events[0].target() == "model:stub");
  CHECK(events[0].outcome() == "ok");
  CHECK(events[0].details().fields().at("systemChars").number_value() == 8);
  CHECK(events[0].details().fields().at("promptChars").number_value() == 11);
}

TEST_CASE_METHOD(Fixture, "a second message while a reply is pending is ABORTED") {
  const Conversation created = Create("stub-slow", "");
  auto first = StartSend(created.id(), "first");
  REQUIRE(ServiceTestEnv::WaitUntil([&] { return env.StatsOf("stub-slow").running == 1; }));
  CHECK(store.StateOf(created.id()) == kStateReplying);

  SendMessageResponse response;
  const grpc::Status second = Send(created.id(), "second", &response);
  CHECK(second.error_code() == grpc::StatusCode::ABORTED);
  CHECK(ReasonOf(second) == "CONVERSATION_BUSY");

  // The client leaving cancels the reply, and the conversation is idle again.
  first->context.TryCancel();
  REQUIRE(first->done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  CHECK(first->status.error_code() == grpc::StatusCode::CANCELLED);
  CHECK(ServiceTestEnv::WaitUntil([&] { return env.StatsOf("stub-slow").running == 0; }));
  CHECK(ServiceTestEnv::WaitUntil([&] { return store.StateOf(created.id()) == kStateIdle; }));
}

TEST_CASE_METHOD(Fixture, "another user's conversation is NOT_FOUND") {
  const Conversation created = Create("stub", "");
  Conversation got;
  CHECK(Get(created.id(), &got, "8").error_code() == grpc::StatusCode::NOT_FOUND);
  SendMessageResponse response;
  CHECK(Send(created.id(), "hi", &response, "8").error_code() == grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext context;
  env.Prepare(context, "8");
  spine::v1::DeleteConversationRequest request;
  request.set_id(created.id());
  google::protobuf::Empty empty;
  CHECK(stub->DeleteConversation(&context, request, &empty).error_code() ==
        grpc::StatusCode::NOT_FOUND);
  CHECK(Get(created.id(), &got).ok());
}

TEST_CASE_METHOD(Fixture, "a deleted conversation is gone") {
  const Conversation created = Create("stub", "");
  grpc::ClientContext context;
  env.Prepare(context, "7");
  spine::v1::DeleteConversationRequest request;
  request.set_id(created.id());
  google::protobuf::Empty empty;
  REQUIRE(stub->DeleteConversation(&context, request, &empty).ok());
  Conversation got;
  CHECK(Get(created.id(), &got).error_code() == grpc::StatusCode::NOT_FOUND);
}

TEST_CASE_METHOD(Fixture, "a token whose subject is not a user id is PERMISSION_DENIED") {
  grpc::ClientContext context;
  env.Prepare(context, "alice");
  spine::v1::ListConversationsResponse list;
  const grpc::Status status = stub->ListConversations(&context, {}, &list);
  CHECK(status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(status.error_message() == "conversations belong to users");

  SendMessageResponse response;
  CHECK(Send(1, "hi", &response, "alice").error_code() == grpc::StatusCode::PERMISSION_DENIED);
  CHECK(Send(1, "hi", &response, "").error_code() == grpc::StatusCode::UNAUTHENTICATED);
}

TEST_CASE_METHOD(Fixture, "an empty or too long message is INVALID_ARGUMENT") {
  const Conversation created = Create("stub", "");
  SendMessageResponse response;
  CHECK(Send(created.id(), "", &response).error_code() == grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(Send(created.id(), std::string(41, 'x'), &response).error_code() ==
        grpc::StatusCode::INVALID_ARGUMENT);
  CHECK(store.StateOf(created.id()) == kStateIdle);
}

}  // namespace spine::llm
