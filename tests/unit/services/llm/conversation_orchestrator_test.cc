// The conversation state machine against an in-memory store and a generator the test drives.
#include "services/llm/conversation_orchestrator.h"

#include <catch2/catch.hpp>
#include <optional>

#include "absl/synchronization/notification.h"
#include "libs/rpc/error_info.h"
#include "tests/unit/services/llm/fake_conversation_store.h"

namespace spine::llm {
namespace {

using FakeStore = FakeConversationStore;

// Holds each generation until the test completes or fails it.
class ManualGenerator final : public ReplyGenerator {
 public:
  absl::StatusOr<Cancel> Generate(
      const std::string& model, int64_t, const std::string&, std::vector<ChatMessage> context,
      absl::Time, std::function<void(absl::StatusOr<GenerateResult>)> done) override {
    if (!refuse.ok()) return refuse;
    last_model = model;
    last_context = std::move(context);
    pending = std::move(done);
    return Cancel([this] { cancelled = true; });
  }
  absl::Status refuse = absl::OkStatus();
  std::string last_model;
  std::vector<ChatMessage> last_context;
  std::function<void(absl::StatusOr<GenerateResult>)> pending;
  bool cancelled = false;
};

struct Fixture {
  Fixture() : pool(*WorkerPool::Create(1, 16)) {}
  FakeStore store;
  ManualGenerator generator;
  std::unique_ptr<WorkerPool> pool;
  ConversationOrchestrator orchestrator{store, generator, {{"stub", 100}, {"tiny", 12}}, *pool};

  // Sends and waits for the outcome after `finish` completes the generation.
  absl::StatusOr<SendResult> SendAndFinish(int64_t id, const std::string& content,
                                           absl::StatusOr<GenerateResult> outcome) {
    std::optional<absl::StatusOr<SendResult>> result;
    absl::Notification finished;
    auto cancel = orchestrator.SendMessage(1, id, content, absl::InfiniteFuture(), "req",
                                           [&](absl::StatusOr<SendResult> r) {
                                             result = std::move(r);
                                             finished.Notify();
                                           });
    if (!cancel.ok()) return cancel.status();
    generator.pending(std::move(outcome));
    REQUIRE(finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
    return *std::move(result);
  }
};

GenerateResult Reply(const std::string& text) {
  return {.text = text, .finish_reason = "stop", .prompt_tokens = 1, .completion_tokens = 1};
}

}  // namespace

TEST_CASE_METHOD(Fixture, "a conversation only starts on a configured model") {
  auto unknown = orchestrator.Create(1, "gpt-9", "", "");
  CHECK(unknown.status().code() == absl::StatusCode::kNotFound);
  CHECK(rpc::GetErrorInfo(unknown.status())->reason() == "MODEL_NOT_FOUND");
  auto created = orchestrator.Create(1, "stub", "t", "be brief");
  REQUIRE(created.ok());
  CHECK(created->state == kStateIdle);
}

TEST_CASE_METHOD(Fixture, "a message goes idle to replying to idle with the reply appended") {
  const auto conversation = *orchestrator.Create(1, "stub", "", "be brief");
  std::optional<absl::StatusOr<SendResult>> result;
  absl::Notification finished;
  auto cancel = orchestrator.SendMessage(1, conversation.id, "hello", absl::InfiniteFuture(), "req",
                                         [&](absl::StatusOr<SendResult> r) {
                                           result = std::move(r);
                                           finished.Notify();
                                         });
  REQUIRE(cancel.ok());
  CHECK(store.StateOf(conversation.id) == kStateReplying);
  REQUIRE(generator.last_context.size() == 2);
  CHECK(generator.last_context[0].role == "system");
  CHECK(generator.last_context[1].content == "hello");

  // While the reply is pending, another message is refused, naming the state.
  auto busy = orchestrator.SendMessage(1, conversation.id, "again", absl::InfiniteFuture(), "req",
                                       [](const absl::StatusOr<SendResult>&) {});
  CHECK(busy.status().code() == absl::StatusCode::kAborted);
  CHECK(rpc::GetErrorInfo(busy.status())->reason() == "CONVERSATION_BUSY");

  generator.pending(Reply("hi there"));
  REQUIRE(finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
  REQUIRE(result->ok());
  CHECK((*result)->reply.role == "assistant");
  CHECK((*result)->reply.content == "hi there");
  CHECK((*result)->conversation.messages.size() == 2);
  CHECK(store.StateOf(conversation.id) == kStateIdle);
}

TEST_CASE_METHOD(Fixture, "a failed or cancelled reply returns to idle without a message") {
  const auto conversation = *orchestrator.Create(1, "stub", "", "");
  auto failed = SendAndFinish(conversation.id, "q", absl::UnavailableError("backend down"));
  CHECK(failed.status().code() == absl::StatusCode::kUnavailable);
  CHECK(store.StateOf(conversation.id) == kStateIdle);
  auto after = store.Get(1, conversation.id, true);
  REQUIRE(after.ok());
  REQUIRE(after->messages.size() == 1);  // the user's message stays, no assistant message
  CHECK(after->messages[0].role == "user");

  auto ok = SendAndFinish(conversation.id, "again", Reply("fine"));
  CHECK(ok.ok());
}

TEST_CASE_METHOD(Fixture, "a reply refused before it starts returns to idle at once") {
  const auto conversation = *orchestrator.Create(1, "stub", "", "");
  generator.refuse = absl::ResourceExhaustedError("queue full");
  auto refused = orchestrator.SendMessage(1, conversation.id, "q", absl::InfiniteFuture(), "req",
                                          [](const absl::StatusOr<SendResult>&) {});
  CHECK(refused.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(store.StateOf(conversation.id) == kStateIdle);
}

TEST_CASE_METHOD(Fixture, "another user's conversation is not found and unchanged") {
  const auto conversation = *orchestrator.Create(1, "stub", "", "");
  auto foreign = orchestrator.SendMessage(2, conversation.id, "q", absl::InfiniteFuture(), "req",
                                          [](const absl::StatusOr<SendResult>&) {});
  CHECK(foreign.status().code() == absl::StatusCode::kNotFound);
  CHECK(store.StateOf(conversation.id) == kStateIdle);
  CHECK(orchestrator
            .SendMessage(1, conversation.id, "", absl::InfiniteFuture(), "req",
                         [](const absl::StatusOr<SendResult>&) {})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "a conversation left replying by a dead process takes messages again") {
  const auto conversation = *orchestrator.Create(1, "stub", "", "");
  // A reply was in flight when an earlier spine-llm died: storage still says "replying".
  store.SetState(conversation.id, kStateReplying);
  auto ok = SendAndFinish(conversation.id, "anyone there?", Reply("yes"));
  REQUIRE(ok.ok());
  CHECK(ok->reply.content == "yes");
  CHECK(store.StateOf(conversation.id) == kStateIdle);
}

TEST_CASE_METHOD(Fixture, "a reply of this process is never taken for a stale one") {
  const auto conversation = *orchestrator.Create(1, "stub", "", "");
  absl::Notification finished;
  auto first =
      orchestrator.SendMessage(1, conversation.id, "one", absl::InfiniteFuture(), "req",
                               [&](const absl::StatusOr<SendResult>&) { finished.Notify(); });
  REQUIRE(first.ok());
  auto second = orchestrator.SendMessage(1, conversation.id, "two", absl::InfiniteFuture(), "req",
                                         [](const absl::StatusOr<SendResult>&) {});
  CHECK(second.status().code() == absl::StatusCode::kAborted);
  CHECK(store.StateOf(conversation.id) == kStateReplying);
  auto stored = store.Get(1, conversation.id, true);
  REQUIRE(stored.ok());
  CHECK(stored->messages.size() == 1);  // "two" was not appended
  generator.pending(Reply("done"));
  REQUIRE(finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE("the context keeps the system prompt and the newest messages that fit") {
  StoredConversation conversation{.system = "sys"};
  for (const char* text : {"aaaa", "bbbb", "cccc", "dddd"}) {
    conversation.messages.push_back({.role = "user", .content = text});
  }
  // 3 for the system prompt, then 4 per message: room for two.
  auto context = ConversationOrchestrator::BuildContext(conversation, 12);
  REQUIRE(context.size() == 3);
  CHECK(context[0].content == "sys");
  CHECK(context[1].content == "cccc");
  CHECK(context[2].content == "dddd");
  // The newest message is kept even alone over the budget.
  auto tight = ConversationOrchestrator::BuildContext(conversation, 2);
  REQUIRE(tight.size() == 2);
  CHECK(tight[1].content == "dddd");
}

}  // namespace spine::llm
