// The StorageAdapter contract for conversations, pipelines and runs, against every adapter.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tests/unit/services/storage/adapter_fixtures.h"
#include "tests/unit/services/storage/contract_checks.h"

namespace spine::storage {
namespace {

Conversation MakeConversation(int64_t user, int64_t micros, const std::string& state = "idle") {
  return Conversation{.user_id = user,
                      .model = "stub",
                      .title = "t",
                      .system = "be brief",
                      .state = state,
                      .create_micros = micros};
}

RunRecord MakeRun(int64_t user, int64_t pipeline, const std::string& state, int64_t micros,
                  const std::string& key = "") {
  return RunRecord{.user_id = user,
                   .pipeline_id = pipeline,
                   .state = state,
                   .idempotency_key = key,
                   .payload = std::string("\0\x01run", 5),
                   .create_micros = micros,
                   .update_micros = micros};
}

using testing::Ids;

}  // namespace

TEMPLATE_TEST_CASE("an adapter keeps conversations per user and their messages in order",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto created = adapter.InsertConversation(MakeConversation(1, 100));
  REQUIRE(created.ok());
  CHECK(created->id > 0);
  CHECK(created->messages.empty());

  const ConversationAppend turn{
      .expect_state = "idle",
      .new_state = "idle",
      .messages = {{.role = "user", .content = "hi", .create_micros = 1},
                   {.role = "assistant", .content = "hello", .create_micros = 2}}};
  auto after = adapter.AppendConversationMessages(1, created->id, turn);
  REQUIRE(after.ok());
  REQUIRE(after->messages.size() == 2);
  auto second = adapter.AppendConversationMessages(
      1, created->id,
      {.expect_state = "idle",
       .new_state = "closed",
       .messages = {{.role = "user", .content = "again", .create_micros = 3}}});
  REQUIRE(second.ok());
  CHECK(second->state == "closed");

  auto with = adapter.GetConversation(1, created->id, true);
  REQUIRE(with.ok());
  REQUIRE(with->messages.size() == 3);
  CHECK(with->messages[0] ==
        ConversationMessage{.role = "user", .content = "hi", .create_micros = 1});
  CHECK(with->messages[1].content == "hello");
  CHECK(with->messages[2].content == "again");
  CHECK(with->system == "be brief");
  auto without = adapter.GetConversation(1, created->id, false);
  REQUIRE(without.ok());
  CHECK(without->messages.empty());
  CHECK(without->state == "closed");

  // Another user sees nothing and can change nothing.
  CHECK(adapter.AppendConversationMessages(2, created->id, turn).status().code() ==
        absl::StatusCode::kNotFound);
  testing::CheckOwnedDelete(
      1, 2, [&](int64_t user) { return adapter.GetConversation(user, created->id, true); },
      [&](int64_t user) { return adapter.DeleteConversation(user, created->id); });
}

TEMPLATE_TEST_CASE("an append whose expected state is stale changes nothing", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto created = adapter.InsertConversation(MakeConversation(1, 100, "generating"));
  REQUIRE(created.ok());
  auto stale = adapter.AppendConversationMessages(
      1, created->id,
      {.expect_state = "idle",
       .new_state = "idle",
       .messages = {{.role = "user", .content = "x", .create_micros = 1}}});
  CHECK(stale.status().code() == absl::StatusCode::kAborted);
  auto unchanged = adapter.GetConversation(1, created->id, true);
  REQUIRE(unchanged.ok());
  CHECK(unchanged->messages.empty());
  CHECK(unchanged->state == "generating");
}

TEMPLATE_TEST_CASE("an adapter pages conversations and pipelines newest first per user",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  std::vector<int64_t> conversations;
  std::vector<int64_t> pipelines;
  for (int i = 0; i < 4; ++i) {
    // Two share a timestamp: ties fall back to the id.
    const int64_t micros = 1000 + (i / 2) * 10;
    auto conversation = adapter.InsertConversation(MakeConversation(1, micros));
    auto pipeline = adapter.InsertPipeline({.user_id = 1,
                                            .name = "p",
                                            .definition_json = "{\"schemaVersion\":1}",
                                            .create_micros = micros});
    REQUIRE(conversation.ok());
    REQUIRE(pipeline.ok());
    conversations.push_back(conversation->id);
    pipelines.push_back(pipeline->id);
  }
  REQUIRE(adapter.InsertConversation(MakeConversation(2, 5000)).ok());

  const auto pages = testing::PageIds(
      [&](std::optional<PageCursor> after) {
        return adapter.ListConversations({.user_id = 1, .after = after, .limit = 3});
      },
      3);
  CHECK(pages == std::vector<std::vector<int64_t>>{
                     {conversations[3], conversations[2], conversations[1]}, {conversations[0]}});

  auto listed = adapter.ListPipelines({.user_id = 1, .limit = 10});
  REQUIRE(listed.ok());
  CHECK(Ids(*listed) ==
        std::vector<int64_t>{pipelines[3], pipelines[2], pipelines[1], pipelines[0]});
  CHECK(listed->front().definition_json == "{\"schemaVersion\":1}");
  auto others = adapter.ListPipelines({.user_id = 2, .limit = 10});
  REQUIRE(others.ok());
  CHECK(others->empty());

  testing::CheckOwnedDelete(
      1, 2, [&](int64_t user) { return adapter.GetPipeline(user, pipelines[0]); },
      [&](int64_t user) { return adapter.DeletePipeline(user, pipelines[0]); });
}

TEMPLATE_TEST_CASE("a reused idempotency key returns the user's first run", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto first = adapter.InsertRun(MakeRun(1, 7, "QUEUED", 100, "key-1"));
  REQUIRE(first.ok());
  CHECK(first->created);
  auto again = adapter.InsertRun(MakeRun(1, 8, "RUNNING", 200, "key-1"));
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->run == first->run);
  CHECK(again->run.payload == std::string("\0\x01run", 5));

  // The same key from another user, and runs without a key, are new runs.
  auto other_user = adapter.InsertRun(MakeRun(2, 7, "QUEUED", 300, "key-1"));
  REQUIRE(other_user.ok());
  CHECK(other_user->created);
  auto no_key_a = adapter.InsertRun(MakeRun(1, 7, "QUEUED", 400));
  auto no_key_b = adapter.InsertRun(MakeRun(1, 7, "QUEUED", 500));
  REQUIRE(no_key_a.ok());
  REQUIRE(no_key_b.ok());
  CHECK(no_key_a->created);
  CHECK(no_key_b->created);
  CHECK(no_key_a->run.id != no_key_b->run.id);
}

TEMPLATE_TEST_CASE("a finished run never changes again", "[contract]", SqliteFixture, FakeFixture) {
  const std::vector<std::string> final_states = {"SUCCEEDED", "FAILED", "CANCELLED"};
  const std::string final_state = GENERATE("SUCCEEDED", "FAILED", "CANCELLED");
  INFO(final_state);
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto inserted = adapter.InsertRun(MakeRun(1, 0, "QUEUED", 100));
  REQUIRE(inserted.ok());
  RunRecord run = inserted->run;

  run.state = "RUNNING";
  run.payload = "step 1";
  run.update_micros = 150;
  auto running = adapter.UpdateRun(run, final_states);
  REQUIRE(running.ok());
  CHECK(running->state == "RUNNING");
  CHECK(running->create_micros == 100);
  CHECK(running->update_micros == 150);

  run.state = final_state;
  REQUIRE(adapter.UpdateRun(run, final_states).ok());
  run.state = "RUNNING";
  run.payload = "late";
  CHECK(adapter.UpdateRun(run, final_states).status().code() == absl::StatusCode::kAborted);
  auto stored = adapter.GetRun(1, run.id);
  REQUIRE(stored.ok());
  CHECK(stored->state == final_state);
  CHECK(stored->payload == "step 1");

  RunRecord foreign = run;
  foreign.user_id = 2;
  CHECK(adapter.UpdateRun(foreign, final_states).status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.GetRun(2, run.id).status().code() == absl::StatusCode::kNotFound);
}

TEMPLATE_TEST_CASE("an adapter filters runs by pipeline and state, across users for recovery",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto a = adapter.InsertRun(MakeRun(1, 7, "QUEUED", 100));
  auto b = adapter.InsertRun(MakeRun(1, 8, "RUNNING", 200));
  auto c = adapter.InsertRun(MakeRun(1, 7, "SUCCEEDED", 300));
  auto d = adapter.InsertRun(MakeRun(2, 7, "RUNNING", 400));
  REQUIRE((a.ok() && b.ok() && c.ok() && d.ok()));

  const struct {
    const char* what;
    RunQuery query;
    std::vector<int64_t> ids;
  } filters[] = {
      {"a user's runs", {.user_id = 1, .limit = 10}, {c->run.id, b->run.id, a->run.id}},
      {"of one pipeline", {.user_id = 1, .pipeline_id = 7, .limit = 10}, {c->run.id, a->run.id}},
      {"in one state", {.user_id = 1, .states = {"SUCCEEDED"}, .limit = 10}, {c->run.id}},
      {"unfinished, of every user",
       {.user_id = 0, .states = {"QUEUED", "RUNNING"}, .limit = 10},
       {d->run.id, b->run.id, a->run.id}},
      {"unfinished, a page on",
       {.user_id = 0,
        .states = {"QUEUED", "RUNNING"},
        .after = PageCursor{.create_micros = 400, .id = d->run.id},
        .limit = 1},
       {b->run.id}},
      // A state string that looks like SQL is only ever a value.
      {"a state like SQL", {.user_id = 1, .states = {"' OR 1=1 --"}, .limit = 10}, {}},
  };
  for (const auto& filter : filters) {
    INFO(filter.what);
    auto listed = adapter.ListRuns(filter.query);
    REQUIRE(listed.ok());
    CHECK(Ids(*listed) == filter.ids);
  }
}

}  // namespace spine::storage
