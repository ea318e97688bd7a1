// The StorageAdapter contract, run against every adapter: the SQLite one and the in-memory
// fake. A new adapter (PostgreSQL, say) is ready when it passes this file.
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "services/storage/search_query.h"
#include "services/storage/sqlite/sqlite_adapter.h"
#include "tests/support/child_process.h"
#include "tests/unit/services/storage/fake_storage_adapter.h"

namespace spine::storage {
namespace {

struct SqliteFixture {
  spine::testing::TempDir dir;
  std::unique_ptr<StorageAdapter> adapter;
  SqliteFixture() {
    auto opened = SqliteAdapter::Open(dir.path() + "/contract.db", 2);
    REQUIRE(opened.ok());
    adapter = std::move(*opened);
  }
};

struct FakeFixture {
  std::unique_ptr<StorageAdapter> adapter = std::make_unique<testing::FakeStorageAdapter>();
};

Thought MakeThought(int64_t user, const std::string& text, std::vector<std::string> tags,
                    int64_t micros) {
  Thought thought;
  thought.user_id = user;
  thought.text = text;
  thought.tags = std::move(tags);
  thought.create_micros = micros;
  thought.update_micros = micros;
  return thought;
}

std::vector<int64_t> Ids(const std::vector<Thought>& thoughts) {
  std::vector<int64_t> ids;
  ids.reserve(thoughts.size());
  for (const Thought& thought : thoughts) ids.push_back(thought.id);
  return ids;
}

}  // namespace

TEMPLATE_TEST_CASE("an adapter stores, returns and deletes thoughts per user", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto first = adapter.InsertThought(MakeThought(1, "hello", {"a", "b"}, 1000));
  auto second = adapter.InsertThought(MakeThought(1, "world", {}, 2000));
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  CHECK(first->id > 0);
  CHECK(second->id > first->id);

  auto fetched = adapter.GetThought(1, first->id);
  REQUIRE(fetched.ok());
  CHECK(*fetched == *first);
  CHECK(adapter.GetThought(2, first->id).status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.GetThought(1, 999999).status().code() == absl::StatusCode::kNotFound);

  CHECK(adapter.DeleteThought(2, first->id).code() == absl::StatusCode::kNotFound);
  REQUIRE(adapter.GetThought(1, first->id).ok());
  CHECK(adapter.DeleteThought(1, first->id).ok());
  CHECK(adapter.GetThought(1, first->id).status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.DeleteThought(1, first->id).code() == absl::StatusCode::kNotFound);
  CHECK(adapter.Ping().ok());
}

TEMPLATE_TEST_CASE("an adapter applies patches to the fields present only", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto thought = adapter.InsertThought(MakeThought(1, "before", {"x"}, 1000));
  REQUIRE(thought.ok());

  ThoughtPatch text_only{.text = "after", .tags = std::nullopt, .update_micros = 2000};
  auto updated = adapter.UpdateThought(1, thought->id, text_only);
  REQUIRE(updated.ok());
  CHECK(updated->text == "after");
  CHECK(updated->tags == std::vector<std::string>{"x"});
  CHECK(updated->update_micros == 2000);
  CHECK(updated->create_micros == 1000);

  ThoughtPatch tags_only{
      .text = std::nullopt, .tags = std::vector<std::string>{"y", "z"}, .update_micros = 3000};
  updated = adapter.UpdateThought(1, thought->id, tags_only);
  REQUIRE(updated.ok());
  CHECK(updated->text == "after");
  CHECK(updated->tags == std::vector<std::string>{"y", "z"});

  CHECK(adapter.UpdateThought(2, thought->id, text_only).status().code() ==
        absl::StatusCode::kNotFound);
  auto unchanged = adapter.GetThought(1, thought->id);
  REQUIRE(unchanged.ok());
  CHECK(*unchanged == *updated);

  // The tag filter follows the new tags.
  ThoughtQuery by_tag{.user_id = 1, .tag = "y"};
  auto listed = adapter.ListThoughts(by_tag);
  REQUIRE(listed.ok());
  CHECK(listed->size() == 1);
  by_tag.tag = "x";
  listed = adapter.ListThoughts(by_tag);
  REQUIRE(listed.ok());
  CHECK(listed->empty());
}

TEMPLATE_TEST_CASE("an adapter lists newest first from a cursor, ties broken by id", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  std::vector<int64_t> ids;
  for (int i = 0; i < 5; ++i) {
    // Two pairs share a timestamp, so the order must fall back to the id.
    auto thought =
        adapter.InsertThought(MakeThought(1, "t" + std::to_string(i), {}, int64_t{1000} * (i / 2)));
    REQUIRE(thought.ok());
    ids.push_back(thought->id);
  }
  REQUIRE(adapter.InsertThought(MakeThought(2, "someone else's", {}, 9999)).ok());

  ThoughtQuery query{.user_id = 1, .limit = 2};
  auto page = adapter.ListThoughts(query);
  REQUIRE(page.ok());
  CHECK(Ids(*page) == std::vector<int64_t>{ids[4], ids[3]});
  query.after = PageCursor{.create_micros = page->back().create_micros, .id = page->back().id};
  page = adapter.ListThoughts(query);
  REQUIRE(page.ok());
  CHECK(Ids(*page) == std::vector<int64_t>{ids[2], ids[1]});
  query.after = PageCursor{.create_micros = page->back().create_micros, .id = page->back().id};
  page = adapter.ListThoughts(query);
  REQUIRE(page.ok());
  CHECK(Ids(*page) == std::vector<int64_t>{ids[0]});
}

TEMPLATE_TEST_CASE("an adapter filters by tag and by full-text expression together", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  REQUIRE(adapter.InsertThought(MakeThought(1, "the quick brown fox", {"animals"}, 1)).ok());
  REQUIRE(adapter.InsertThought(MakeThought(1, "quick database notes", {"work"}, 2)).ok());
  REQUIRE(adapter.InsertThought(MakeThought(1, "slow databases", {"work"}, 3)).ok());
  REQUIRE(adapter.InsertThought(MakeThought(2, "quick fox of user two", {"animals"}, 4)).ok());

  auto count = [&](const std::string& tag, const std::string& search) {
    ThoughtQuery query{.user_id = 1, .tag = tag};
    if (!search.empty()) {
      auto expression = BuildFtsMatchExpression(search);
      REQUIRE(expression.ok());
      query.fts_match = *expression;
    }
    auto listed = adapter.ListThoughts(query);
    REQUIRE(listed.ok());
    return listed->size();
  };
  CHECK(count("", "") == 3);
  CHECK(count("work", "") == 2);
  CHECK(count("", "quick") == 2);
  CHECK(count("", "quick fox") == 1);
  CHECK(count("", "data*") == 2);
  CHECK(count("work", "quick") == 1);
  CHECK(count("animals", "database") == 0);
  CHECK(count("", "OR") == 0);
}

}  // namespace spine::storage
