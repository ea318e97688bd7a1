// The data access rules for conversations, pipelines and runs, against the fake adapter.
#include <catch2/catch.hpp>
#include <set>

#include "libs/core/clock.h"
#include "services/storage/access/data_access.h"
#include "tests/support/child_process.h"
#include "tests/unit/services/storage/fake_storage_adapter.h"

namespace spine::storage {
namespace {

struct Fixture {
  FakeClock clock;
  testing::FakeStorageAdapter adapter;
  PageTokenCodec tokens{std::string(32, 'k')};
  spine::testing::TempDir backups;
  DataAccess data{adapter, tokens, clock, backups.path() + "/backups"};
};

ConversationAppend Turn(const std::string& content) {
  return {.expect_state = "idle",
          .new_state = "idle",
          .messages = {{.role = "user", .content = content}}};
}

RunRecord Run(int64_t user, const std::string& state, const std::string& key = "") {
  return {
      .user_id = user, .pipeline_id = 3, .state = state, .idempotency_key = key, .payload = "p"};
}

}  // namespace

TEST_CASE_METHOD(Fixture, "conversation input is validated before anything is stored") {
  using absl::StatusCode;
  CHECK(data.conversations.CreateConversation(0, "stub", "", "", "idle").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.conversations.CreateConversation(1, "", "", "", "idle").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.conversations.CreateConversation(1, std::string(129, 'm'), "", "", "idle")
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(data.conversations.CreateConversation(1, "stub", "a\nb", "", "idle").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.conversations.CreateConversation(1, "stub", std::string(257, 't'), "", "idle")
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(data.conversations.CreateConversation(1, "stub", "", "\xff", "idle").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.conversations.CreateConversation(1, "stub", "", "", "Idle!").status().code() ==
        StatusCode::kInvalidArgument);
  auto empty = data.conversations.ListConversations(1, 0, "");
  REQUIRE(empty.ok());
  CHECK(empty->conversations.empty());

  auto conversation =
      data.conversations.CreateConversation(1, "stub", "title", "multi\nline system", "idle");
  REQUIRE(conversation.ok());
  CHECK(conversation->create_micros == absl::ToUnixMicros(clock.Now()));

  ConversationAppend bad_role = Turn("x");
  bad_role.messages[0].role = "root";
  auto refused = data.conversations.AppendConversationMessages(1, conversation->id, bad_role);
  CHECK(refused.status().code() == StatusCode::kInvalidArgument);
  CHECK(refused.status().message() == "messages[0].role: must be system, user or assistant");
  ConversationAppend none = Turn("x");
  none.messages.clear();
  CHECK(data.conversations.AppendConversationMessages(1, conversation->id, none).status().code() ==
        StatusCode::kInvalidArgument);
  none.new_state = "failed_over";  // a pure state change needs no message
  auto moved = data.conversations.AppendConversationMessages(1, conversation->id, none);
  REQUIRE(moved.ok());
  CHECK(moved->state == "failed_over");
  none.expect_state = "failed_over";
  none.new_state = "idle";
  REQUIRE(data.conversations.AppendConversationMessages(1, conversation->id, none).ok());
  ConversationAppend too_many = Turn("x");
  too_many.messages.resize(17, too_many.messages[0]);
  CHECK(data.conversations.AppendConversationMessages(1, conversation->id, too_many)
            .status()
            .code() == StatusCode::kInvalidArgument);
  ConversationAppend oversized = Turn(std::string((size_t{1} << 20) + 1, 'x'));
  CHECK(data.conversations.AppendConversationMessages(1, conversation->id, oversized)
            .status()
            .code() == StatusCode::kInvalidArgument);
  auto unchanged = data.conversations.GetConversation(1, conversation->id, true);
  REQUIRE(unchanged.ok());
  CHECK(unchanged->messages.empty());
}

TEST_CASE_METHOD(Fixture, "appended messages without a time get the clock's") {
  auto conversation = data.conversations.CreateConversation(1, "stub", "", "", "idle");
  REQUIRE(conversation.ok());
  clock.Advance(absl::Seconds(3));
  ConversationAppend turn = Turn("hello");
  turn.messages.push_back({.role = "assistant", .content = "hi", .create_micros = 42});
  auto after = data.conversations.AppendConversationMessages(1, conversation->id, turn);
  REQUIRE(after.ok());
  REQUIRE(after->messages.size() == 2);
  CHECK(after->messages[0].create_micros == absl::ToUnixMicros(clock.Now()));
  CHECK(after->messages[1].create_micros == 42);
}

TEST_CASE_METHOD(Fixture,
                 "conversation pages visit each once and their tokens are bound to "
                 "the user") {
  std::set<int64_t> created;
  for (int i = 0; i < 7; ++i) {
    clock.Advance(absl::Milliseconds(1));
    auto conversation = data.conversations.CreateConversation(1, "stub", "", "", "idle");
    REQUIRE(conversation.ok());
    created.insert(conversation->id);
  }
  std::set<int64_t> seen;
  std::string token;
  std::string first_token;
  do {
    auto page = data.conversations.ListConversations(1, 3, token);
    REQUIRE(page.ok());
    for (const Conversation& conversation : page->conversations) {
      CHECK(seen.insert(conversation.id).second);
    }
    token = page->next_page_token;
    if (first_token.empty()) first_token = token;
  } while (!token.empty());
  CHECK(seen == created);
  CHECK(data.conversations.ListConversations(2, 3, first_token).status().code() ==
        absl::StatusCode::kInvalidArgument);
  // A token from one listing kind is no good for another.
  CHECK(data.pipelines.ListPipelines(1, 3, first_token).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "pipeline input is validated and the definition must be an object") {
  using absl::StatusCode;
  CHECK(data.pipelines.CreatePipeline(1, "", "{}").status().code() == StatusCode::kInvalidArgument);
  CHECK(data.pipelines.CreatePipeline(1, std::string(129, 'n'), "{}").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.pipelines.CreatePipeline(1, "p", "[1]").status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.pipelines.CreatePipeline(1, "p", "{").status().code() == StatusCode::kInvalidArgument);
  CHECK(data.pipelines
            .CreatePipeline(1, "p", "{\"a\":\"" + std::string(size_t{256} * 1024, 'x') + "\"}")
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(data.pipelines.CreatePipeline(-1, "p", "{}").status().code() ==
        StatusCode::kInvalidArgument);
  auto pipeline =
      data.pipelines.CreatePipeline(1, "summarise", R"({"schemaVersion":1,"steps":[]})");
  REQUIRE(pipeline.ok());
  CHECK(data.pipelines.GetPipeline(1, pipeline->id)->name == "summarise");
  CHECK(data.pipelines.GetPipeline(2, pipeline->id).status().code() == StatusCode::kNotFound);
  CHECK(data.pipelines.GetPipeline(1, 0).status().code() == StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "runs are validated, stamped, and idempotent per user and key") {
  using absl::StatusCode;
  CHECK(data.runs.CreateRun(Run(1, "DONE")).status().code() == StatusCode::kInvalidArgument);
  CHECK(data.runs.CreateRun(Run(0, "QUEUED")).status().code() == StatusCode::kInvalidArgument);
  CHECK(data.runs.CreateRun(Run(1, "QUEUED", "has space")).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.runs.CreateRun(Run(1, "QUEUED", std::string(129, 'k'))).status().code() ==
        StatusCode::kInvalidArgument);
  RunRecord huge = Run(1, "QUEUED");
  huge.payload.assign((size_t{4} << 20) + 1, 'x');
  CHECK(data.runs.CreateRun(huge).status().code() == StatusCode::kInvalidArgument);
  RunRecord negative = Run(1, "QUEUED");
  negative.pipeline_id = -1;
  CHECK(data.runs.CreateRun(negative).status().code() == StatusCode::kInvalidArgument);

  auto first = data.runs.CreateRun(Run(1, "QUEUED", "order-17"));
  REQUIRE(first.ok());
  CHECK(first->created);
  CHECK(first->run.create_micros == absl::ToUnixMicros(clock.Now()));
  clock.Advance(absl::Seconds(1));
  auto again = data.runs.CreateRun(Run(1, "QUEUED", "order-17"));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->run.id == first->run.id);
  CHECK(again->run.create_micros == first->run.create_micros);
}

TEST_CASE_METHOD(Fixture, "a run update stamps the update time and a finished run is frozen") {
  auto created = data.runs.CreateRun(Run(1, "QUEUED"));
  REQUIRE(created.ok());
  RunRecord run = created->run;
  clock.Advance(absl::Seconds(2));
  run.state = "SUCCEEDED";
  auto done = data.runs.UpdateRun(run);
  REQUIRE(done.ok());
  CHECK(done->update_micros == absl::ToUnixMicros(clock.Now()));
  CHECK(done->create_micros == created->run.create_micros);
  run.state = "RUNNING";
  CHECK(data.runs.UpdateRun(run).status().code() == absl::StatusCode::kAborted);
  run.id = 0;
  CHECK(data.runs.UpdateRun(run).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "run listings need a user unless they recover unfinished runs") {
  using absl::StatusCode;
  REQUIRE(data.runs.CreateRun(Run(1, "QUEUED")).ok());
  REQUIRE(data.runs.CreateRun(Run(2, "RUNNING")).ok());
  REQUIRE(data.runs.CreateRun(Run(2, "FAILED")).ok());
  CHECK(data.runs.ListRuns({.user_id = 0}).status().code() == StatusCode::kInvalidArgument);
  CHECK(data.runs.ListRuns({.user_id = 1, .state = "NOPE"}).status().code() ==
        StatusCode::kInvalidArgument);
  CHECK(data.runs.ListRuns({.user_id = 0, .state = "QUEUED", .unfinished_states = {"QUEUED"}})
            .status()
            .code() == StatusCode::kInvalidArgument);
  CHECK(data.runs.ListRuns({.user_id = 0, .unfinished_states = {"QUEUED", "bogus"}})
            .status()
            .code() == StatusCode::kInvalidArgument);

  auto recovery = data.runs.ListRuns({.user_id = 0, .unfinished_states = {"QUEUED", "RUNNING"}});
  REQUIRE(recovery.ok());
  CHECK(recovery->runs.size() == 2);
  auto failed = data.runs.ListRuns({.user_id = 2, .state = "FAILED"});
  REQUIRE(failed.ok());
  REQUIRE(failed->runs.size() == 1);
  CHECK(failed->runs[0].state == "FAILED");

  // Tokens are bound to every filter.
  auto first = data.runs.ListRuns(
      {.user_id = 0, .unfinished_states = {"QUEUED", "RUNNING"}, .page_size = 1});
  REQUIRE(first.ok());
  REQUIRE_FALSE(first->next_page_token.empty());
  CHECK(data.runs
            .ListRuns({.user_id = 0,
                       .unfinished_states = {"QUEUED"},
                       .page_size = 1,
                       .page_token = first->next_page_token})
            .status()
            .code() == StatusCode::kInvalidArgument);
  auto second = data.runs.ListRuns({.user_id = 0,
                                    .unfinished_states = {"QUEUED", "RUNNING"},
                                    .page_size = 1,
                                    .page_token = first->next_page_token});
  REQUIRE(second.ok());
  REQUIRE(second->runs.size() == 1);
  CHECK(second->runs[0].id != first->runs[0].id);
  CHECK(second->next_page_token.empty());
}

}  // namespace spine::storage
