// The data access rules for thoughts, the audit log and backups, against the in-memory fake
// adapter and a fake clock.
#include "services/storage/access/data_access.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "libs/core/clock.h"
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

  Thought Create(int64_t user, const std::string& text, const std::vector<std::string>& tags = {}) {
    clock.Advance(absl::Milliseconds(1));
    auto thought = data.thoughts.CreateThought(user, text, tags);
    REQUIRE(thought.ok());
    return *thought;
  }
};

}  // namespace

TEST_CASE_METHOD(Fixture,
                 "creating a thought stamps both times from the clock and cleans its tags") {
  const Thought thought = Create(1, "hello", {"b", "a", "b"});
  CHECK(thought.create_micros == absl::ToUnixMicros(clock.Now()));
  CHECK(thought.update_micros == thought.create_micros);
  CHECK(thought.tags == std::vector<std::string>{"b", "a"});
}

TEST_CASE_METHOD(Fixture, "invalid input is rejected before anything is stored") {
  CHECK(data.thoughts.CreateThought(1, "", {}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(data.thoughts.CreateThought(1, "x", {std::string(65, 'x')}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(data.thoughts.GetThought(1, 0).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(data.thoughts.GetThought(1, -5).status().code() == absl::StatusCode::kInvalidArgument);
  auto page = data.thoughts.ListThoughts(1, {});
  REQUIRE(page.ok());
  CHECK(page->thoughts.empty());
}

TEST_CASE_METHOD(Fixture, "an update moves update time only and validates what it replaces") {
  const Thought thought = Create(1, "before", {"t"});
  clock.Advance(absl::Seconds(5));
  auto updated = data.thoughts.UpdateThought(1, thought.id, std::string("after"), std::nullopt);
  REQUIRE(updated.ok());
  CHECK(updated->create_micros == thought.create_micros);
  CHECK(updated->update_micros == absl::ToUnixMicros(clock.Now()));
  CHECK(updated->tags == std::vector<std::string>{"t"});
  CHECK(data.thoughts.UpdateThought(1, thought.id, std::string(""), std::nullopt).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(
      data.thoughts.UpdateThought(2, thought.id, std::string("x"), std::nullopt).status().code() ==
      absl::StatusCode::kNotFound);
  auto fetched = data.thoughts.GetThought(1, thought.id);
  REQUIRE(fetched.ok());
  CHECK(fetched->text == "after");
}

TEST_CASE_METHOD(Fixture, "pages follow each other without gaps or repeats") {
  std::set<int64_t> created;
  for (int i = 0; i < 23; ++i) created.insert(Create(1, "t" + std::to_string(i)).id);
  Create(2, "not yours");

  std::set<int64_t> seen;
  ListThoughtsParams params{.page_size = 5};
  int pages = 0;
  while (true) {
    auto page = data.thoughts.ListThoughts(1, params);
    REQUIRE(page.ok());
    ++pages;
    for (const Thought& thought : page->thoughts) CHECK(seen.insert(thought.id).second);
    if (page->next_page_token.empty()) break;
    params.page_token = page->next_page_token;
  }
  CHECK(pages == 5);
  CHECK(seen == created);
}

TEST_CASE_METHOD(Fixture, "a page token only works for the user and filters it was made for") {
  for (int i = 0; i < 3; ++i) Create(1, "word " + std::to_string(i), {"t"});
  ListThoughtsParams params{.page_size = 1, .tag = "t", .query = "word"};
  auto first = data.thoughts.ListThoughts(1, params);
  REQUIRE(first.ok());
  REQUIRE(!first->next_page_token.empty());
  params.page_token = first->next_page_token;
  CHECK(data.thoughts.ListThoughts(1, params).ok());
  CHECK(data.thoughts.ListThoughts(2, params).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ListThoughtsParams other_tag = params;
  other_tag.tag = "u";
  CHECK(data.thoughts.ListThoughts(1, other_tag).status().code() ==
        absl::StatusCode::kInvalidArgument);
  ListThoughtsParams other_query = params;
  other_query.query = "words";
  CHECK(data.thoughts.ListThoughts(1, other_query).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "page size defaults to 50 and must be 1..500") {
  for (int i = 0; i < 60; ++i) Create(1, "t");
  auto page = data.thoughts.ListThoughts(1, {});
  REQUIRE(page.ok());
  CHECK(page->thoughts.size() == 50);
  CHECK(!page->next_page_token.empty());
  auto exact = data.thoughts.ListThoughts(1, {.page_size = 60});
  REQUIRE(exact.ok());
  CHECK(exact->thoughts.size() == 60);
  CHECK(exact->next_page_token.empty());
  CHECK(data.thoughts.ListThoughts(1, {.page_size = 501}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(data.thoughts.ListThoughts(1, {.page_size = -1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(data.thoughts.ListThoughts(1, {.page_size = 500}).ok());
}

TEST_CASE_METHOD(Fixture, "a bad tag filter names the tag parameter") {
  auto page = data.thoughts.ListThoughts(1, {.tag = std::string(65, 'x')});
  REQUIRE(page.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(page.status().message()), Catch::StartsWith("tag:"));
}

}  // namespace spine::storage

namespace spine::storage {

TEST_CASE_METHOD(Fixture, "audit events are validated, stamped by the clock and paged") {
  AuditEvent event{.actor = "7", .service = "llm", .action = "llm.generate", .outcome = "ok"};
  for (int i = 0; i < 5; ++i) {
    clock.Advance(absl::Seconds(1));
    auto stored = data.audit_log.AppendAuditEvent(event);
    REQUIRE(stored.ok());
    CHECK(stored->create_micros == absl::ToUnixMicros(clock.Now()));
    CHECK(stored->details_json == "{}");
  }
  AuditEvent bad = event;
  bad.action = "LLM Generate";
  CHECK(data.audit_log.AppendAuditEvent(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = event;
  bad.outcome = "maybe";
  CHECK(data.audit_log.AppendAuditEvent(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = event;
  bad.actor = "";
  CHECK(data.audit_log.AppendAuditEvent(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad = event;
  bad.details_json = std::string(size_t{17} * 1024, ' ');
  CHECK(data.audit_log.AppendAuditEvent(bad).status().code() == absl::StatusCode::kInvalidArgument);

  ListAuditParams params{.actor = "7", .page_size = 2};
  std::set<int64_t> seen;
  while (true) {
    auto page = data.audit_log.ListAuditEvents(params);
    REQUIRE(page.ok());
    for (const AuditEvent& e : page->events) CHECK(seen.insert(e.id).second);
    if (page->next_page_token.empty()) break;
    params.page_token = page->next_page_token;
  }
  CHECK(seen.size() == 5);
  // A token is bound to its filters.
  ListAuditParams other{.actor = "8", .page_size = 2, .page_token = params.page_token};
  auto first = data.audit_log.ListAuditEvents({.actor = "7", .page_size = 2});
  REQUIRE(first.ok());
  other.page_token = first->next_page_token;
  CHECK(data.audit_log.ListAuditEvents(other).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(data.audit_log.ListAuditEvents({.start_micros = 10, .end_micros = 5}).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture,
                 "audit events are filtered by action name or prefix, bad filters refused") {
  for (const char* action : {"storage.backup", "storage.restore", "storages.x", "llm.generate"}) {
    REQUIRE(data.audit_log
                .AppendAuditEvent({.actor = "7", .service = "x", .action = action, .outcome = "ok"})
                .ok());
  }
  auto exact = data.audit_log.ListAuditEvents({.action = "storage.backup"});
  REQUIRE(exact.ok());
  REQUIRE(exact->events.size() == 1);
  CHECK(exact->events[0].action == "storage.backup");
  auto prefix = data.audit_log.ListAuditEvents({.action = "storage.*"});
  REQUIRE(prefix.ok());
  CHECK(prefix->events.size() == 2);  // not "storages.x"
  for (const char* bad : {"Storage.backup", "storage.", "*", ".*", "storage.**", "a b", "x.*.y"}) {
    CAPTURE(bad);
    CHECK(data.audit_log.ListAuditEvents({.action = bad}).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  // A page token is bound to the action filter too.
  auto first = data.audit_log.ListAuditEvents({.action = "storage.*", .page_size = 1});
  REQUIRE(first.ok());
  REQUIRE(!first->next_page_token.empty());
  CHECK(data.audit_log
            .ListAuditEvents(
                {.action = "llm.*", .page_size = 1, .page_token = first->next_page_token})
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE_METHOD(Fixture, "a batch of audit events is appended whole, or not at all") {
  const AuditEvent event{.actor = "7", .service = "llm", .action = "llm.generate", .outcome = "ok"};
  auto appended = data.audit_log.AppendAuditEvents({event, event, event});
  REQUIRE(appended.ok());
  CHECK(*appended == 3);

  AuditEvent bad = event;
  bad.outcome = "maybe";
  auto refused = data.audit_log.AppendAuditEvents({event, bad, event});
  CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(refused.status().message().find("events[1].outcome") != absl::string_view::npos);
  CHECK(data.audit_log.AppendAuditEvents({}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(data.audit_log.AppendAuditEvents(std::vector<AuditEvent>(501, event)).status().code() ==
        absl::StatusCode::kInvalidArgument);

  auto page = data.audit_log.ListAuditEvents({.actor = "7", .page_size = 100});
  REQUIRE(page.ok());
  CHECK(page->events.size() == 3);  // nothing of the refused batches
  for (const AuditEvent& stored : page->events) {
    CHECK(stored.create_micros == absl::ToUnixMicros(clock.Now()));
  }
}

}  // namespace spine::storage

namespace spine::storage {

TEST_CASE_METHOD(Fixture, "a backup name can never leave the backups directory") {
  for (const std::string& name : std::vector<std::string>{"", ".hidden", "../escape", "a/b",
                                                          std::string(65, 'x'), "sp ace"}) {
    CAPTURE(name);
    const auto refused = data.backups.Backup(name);
    CHECK(refused.status().code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(!std::filesystem::exists(backups.path() + "/escape"));
}

TEST_CASE_METHOD(Fixture, "a backup is created once, with its size, and never overwritten") {
  Create(1, "kept");
  const auto size = data.backups.Backup("nightly-1.db");
  REQUIRE(size.ok());
  const std::string path = backups.path() + "/backups/nightly-1.db";
  CHECK(*size == static_cast<int64_t>(std::filesystem::file_size(path)));
  Create(1, "later");
  const auto again = data.backups.Backup("nightly-1.db");
  CHECK(again.status().code() == absl::StatusCode::kAlreadyExists);
  CHECK(*size == static_cast<int64_t>(std::filesystem::file_size(path)));  // the first copy kept
}

TEST_CASE_METHOD(Fixture, "a backup directory that cannot be made is named with the reason") {
  // A file where the directory should be.
  const std::string blocked = backups.WriteFile("not-a-dir", "x");
  DataAccess elsewhere{adapter, tokens, clock, blocked + "/backups"};
  const auto failed = elsewhere.backups.Backup("copy.db");
  REQUIRE(failed.status().code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(failed.status().message()),
             Catch::Contains(blocked + "/backups") && Catch::Contains("Not a directory"));
}

}  // namespace spine::storage
