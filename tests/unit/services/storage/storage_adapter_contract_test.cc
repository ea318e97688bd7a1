// The StorageAdapter contract, run against every adapter: the SQLite one and the in-memory
// fake. A new adapter (PostgreSQL, say) is ready when it passes this file.
#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "services/storage/search_query.h"
#include "tests/unit/services/storage/adapter_fixtures.h"
#include "tests/unit/services/storage/contract_checks.h"

namespace spine::storage {
namespace {

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

// A user as the tests need one: the name and role matter, the rest is filler.
absl::StatusOr<User> AddUser(StorageAdapter& adapter, const std::string& username,
                             const std::string& role = "user") {
  return adapter.InsertUser(
      {.username = username, .role = role, .password_hash = "h", .create_micros = 1});
}

// A refresh token's hash: 32 bytes of `byte`.
std::string TokenHash(char byte) { return std::string(32, byte); }

// What rotating the token of `hash` into `next` at `now` answers.
absl::StatusCode RotateCode(StorageAdapter& adapter, char hash, const RefreshToken& next,
                            int64_t now) {
  return adapter.RotateRefreshToken(TokenHash(hash), next, now).status().code();
}

AuditEvent Event(int64_t micros, const std::string& actor, const std::string& action,
                 const std::string& request_id) {
  return AuditEvent{.create_micros = micros,
                    .actor = actor,
                    .service = "llm",
                    .action = action,
                    .target = "model:stub",
                    .outcome = "ok",
                    .details_json = "{}",
                    .request_id = request_id};
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
  CHECK(adapter.GetThought(1, 999999).status().code() == absl::StatusCode::kNotFound);

  testing::CheckOwnedDelete(
      1, 2, [&](int64_t user) { return adapter.GetThought(user, first->id); },
      [&](int64_t user) { return adapter.DeleteThought(user, first->id); });
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

  const auto pages = testing::PageIds(
      [&](std::optional<PageCursor> after) {
        return adapter.ListThoughts({.user_id = 1, .after = after, .limit = 2});
      },
      2);
  CHECK(pages == std::vector<std::vector<int64_t>>{{ids[4], ids[3]}, {ids[2], ids[1]}, {ids[0]}});
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

namespace spine::storage {

TEMPLATE_TEST_CASE("an adapter keeps usernames unique regardless of case", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto alice = AddUser(adapter, "alice", "admin");
  REQUIRE(alice.ok());
  CHECK(alice->id > 0);
  CHECK(AddUser(adapter, "ALICE").status().code() == absl::StatusCode::kAlreadyExists);
  auto by_name = adapter.GetUserByName("Alice");
  REQUIRE(by_name.ok());
  CHECK(*by_name == *alice);
  auto by_id = adapter.GetUserById(alice->id);
  REQUIRE(by_id.ok());
  CHECK(*by_id == *alice);
  CHECK(adapter.GetUserByName("bob").status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.GetUserById(alice->id + 100).status().code() == absl::StatusCode::kNotFound);
  auto users = adapter.ListUsers();
  REQUIRE(users.ok());
  CHECK(users->size() == 1);
}

TEMPLATE_TEST_CASE("an adapter locks a username after too many failures in the window",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  const LockoutPolicy policy{
      .window_micros = 900'000'000, .max_failures = 3, .lock_micros = 900'000'000};
  int64_t now = 1'000'000'000'000;
  // Two old failures fall out of the window and do not count.
  REQUIRE(adapter.RecordLoginFailure("carol", now, policy).ok());
  REQUIRE(adapter.RecordLoginFailure("carol", now + 1, policy).ok());
  now += policy.window_micros + 10;
  auto state = adapter.RecordLoginFailure("Carol", now, policy);
  REQUIRE(state.ok());
  CHECK(state->failures_in_window == 1);
  CHECK(!state->locked);
  REQUIRE(adapter.RecordLoginFailure("carol", now + 1, policy).ok());
  state = adapter.RecordLoginFailure("carol", now + 2, policy);
  REQUIRE(state.ok());
  CHECK(state->locked);
  CHECK(state->locked_until_micros == now + 2 + policy.lock_micros);
  state = adapter.GetLoginLock("CAROL", now + 3, policy);
  REQUIRE(state.ok());
  CHECK(state->locked);
  state = adapter.GetLoginLock("carol", now + 3 + policy.lock_micros, policy);
  REQUIRE(state.ok());
  CHECK(!state->locked);
  state = adapter.GetLoginLock("dave", now, policy);
  REQUIRE(state.ok());
  CHECK(!state->locked);
  CHECK(state->failures_in_window == 0);
  REQUIRE(adapter.ResetLoginFailures("carol").ok());
  state = adapter.GetLoginLock("carol", now + 4, policy);
  REQUIRE(state.ok());
  CHECK(!state->locked);
  CHECK(state->failures_in_window == 0);
}

TEMPLATE_TEST_CASE("an adapter rotates refresh tokens once and revokes the family on reuse",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto user = AddUser(adapter, "erin");
  REQUIRE(user.ok());
  const int64_t now = 1'000'000;
  const RefreshToken first{.token_hash = TokenHash('\x01'),
                           .family_id = "fam",
                           .user_id = user->id,
                           .expire_micros = now + 1000};
  REQUIRE(adapter.InsertRefreshToken(first, now).ok());
  CHECK(adapter.InsertRefreshToken(first, now).code() == absl::StatusCode::kAlreadyExists);

  const RefreshToken second{.token_hash = TokenHash('\x02'), .expire_micros = now + 2000};
  auto rotated = adapter.RotateRefreshToken(first.token_hash, second, now + 1);
  REQUIRE(rotated.ok());
  CHECK(rotated->user_id == user->id);
  CHECK(rotated->family_id == "fam");

  // The successor works once...
  const RefreshToken third{.token_hash = TokenHash('\x03'), .expire_micros = now + 3000};
  REQUIRE(adapter.RotateRefreshToken(second.token_hash, third, now + 2).ok());
  // ... and presenting a used token again revokes everything in the family.
  const RefreshToken fourth{.token_hash = TokenHash('\x04'), .expire_micros = now + 4000};
  CHECK(RotateCode(adapter, '\x01', fourth, now + 3) == absl::StatusCode::kPermissionDenied);
  CHECK(RotateCode(adapter, '\x03', fourth, now + 4) == absl::StatusCode::kUnauthenticated);

  CHECK(RotateCode(adapter, '\x09', fourth, now) == absl::StatusCode::kUnauthenticated);
  const RefreshToken expiring{.token_hash = TokenHash('\x05'),
                              .family_id = "fam2",
                              .user_id = user->id,
                              .expire_micros = now + 10};
  REQUIRE(adapter.InsertRefreshToken(expiring, now).ok());
  CHECK(RotateCode(adapter, '\x05', fourth, now + 10) == absl::StatusCode::kUnauthenticated);

  const RefreshToken live{.token_hash = TokenHash('\x06'),
                          .family_id = "fam3",
                          .user_id = user->id,
                          .expire_micros = now + 1000};
  REQUIRE(adapter.InsertRefreshToken(live, now).ok());
  REQUIRE(adapter.RevokeRefreshFamily(live.token_hash).ok());
  CHECK(RotateCode(adapter, '\x06', fourth, now + 1) == absl::StatusCode::kUnauthenticated);
  CHECK(adapter.RevokeRefreshFamily(TokenHash('\x0a')).code() == absl::StatusCode::kNotFound);
}

}  // namespace spine::storage

namespace spine::storage {

TEMPLATE_TEST_CASE("an adapter lists audit events newest first by actor and time range",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  for (int i = 0; i < 6; ++i) {
    AuditEvent event = Event(int64_t{1000} * (i / 2 + 1), i % 2 == 0 ? "7" : "8",
                             i < 4 ? "llm.generate" : "llm.generated", "r" + std::to_string(i));
    auto stored = adapter.AppendAuditEvent(event);
    REQUIRE(stored.ok());
    event.id = stored->id;
    CHECK(*stored == event);
  }
  auto all = adapter.ListAuditEvents({});
  REQUIRE(all.ok());
  REQUIRE(all->size() == 6);
  CHECK(all->front().request_id == "r5");  // newest first, ties by id
  CHECK(all->back().request_id == "r0");

  // An exact action is not a prefix of a longer one; a name ending in '.' is a prefix.
  const struct {
    const char* what;
    AuditQuery query;
    size_t count;
  } filters[] = {
      {"by actor", {.actor = "7"}, 3},
      {"exact action", {.action = "llm.generate"}, 4},
      {"action prefix", {.action = "llm."}, 6},
      {"another prefix", {.action = "ll."}, 0},
      {"actor and action", {.actor = "7", .action = "llm.generated"}, 1},
      {"time range", {.start_micros = 2000, .end_micros = 3000}, 2},
  };
  for (const auto& filter : filters) {
    INFO(filter.what);
    auto listed = adapter.ListAuditEvents(filter.query);
    REQUIRE(listed.ok());
    CHECK(listed->size() == filter.count);
  }
  const auto pages = testing::PageIds(
      [&](std::optional<PageCursor> after) {
        return adapter.ListAuditEvents({.after = after, .limit = 4});
      },
      4);
  const std::vector<int64_t> newest_first = testing::Ids(*all);
  CHECK(pages == std::vector<std::vector<int64_t>>{{newest_first.begin(), newest_first.begin() + 4},
                                                   {newest_first.begin() + 4, newest_first.end()}});
}

TEMPLATE_TEST_CASE("an adapter appends a batch of audit events in order with their ids",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  std::vector<AuditEvent> batch;
  batch.reserve(3);
  for (int i = 0; i < 3; ++i) {
    batch.push_back(Event(5000, "7", "llm.generate", "b" + std::to_string(i)));
  }
  auto stored = adapter.AppendAuditEvents(batch);
  REQUIRE(stored.ok());
  REQUIRE(stored->size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK((*stored)[i].request_id == batch[i].request_id);
    if (i > 0) CHECK((*stored)[i].id == (*stored)[i - 1].id + 1);
  }
  auto listed = adapter.ListAuditEvents({});
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 3);
  CHECK(listed->front().request_id == "b2");  // same time: newest id first
}

}  // namespace spine::storage

namespace spine::storage {

TEMPLATE_TEST_CASE("an adapter's backup never overwrites a file, even racing itself", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  REQUIRE(adapter.InsertThought(MakeThought(1, "kept", {}, 1000)).ok());
  spine::testing::TempDir out;
  const std::string taken = out.path() + "/taken.db";
  REQUIRE(adapter.Backup(taken).ok());
  const absl::Status again = adapter.Backup(taken);
  CHECK(again.code() == absl::StatusCode::kAlreadyExists);
  CHECK(absl::StrContains(again.message(), taken));

  // Several copies claiming one name at once: exactly one wins, the others are ALREADY_EXISTS.
  const std::string contested = out.path() + "/contested.db";
  std::vector<absl::Status> results(4);
  std::vector<std::thread> copies;
  copies.reserve(results.size());
  for (absl::Status& result : results) {
    copies.emplace_back([&adapter, &contested, &result] { result = adapter.Backup(contested); });
  }
  for (std::thread& copy : copies) copy.join();
  int won = 0;
  for (const absl::Status& result : results) {
    if (result.ok()) {
      ++won;
    } else {
      CHECK(result.code() == absl::StatusCode::kAlreadyExists);
    }
  }
  CHECK(won == 1);

  // A destination that cannot be created names the path and the reason.
  const std::string nowhere = out.path() + "/missing-dir/copy.db";
  const absl::Status failed = adapter.Backup(nowhere);
  CHECK(failed.code() == absl::StatusCode::kInternal);
  CHECK(absl::StrContains(failed.message(), nowhere));
  CHECK(absl::StrContains(failed.message(), "No such file or directory"));
}

}  // namespace spine::storage

namespace spine::storage {

TEMPLATE_TEST_CASE("an adapter updates a user and never leaves no enabled admin", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto admin = AddUser(adapter, "root", "admin");
  auto user = AddUser(adapter, "uma");
  REQUIRE(admin.ok());
  REQUIRE(user.ok());
  CHECK(!admin->disabled);

  // The only admin can be neither demoted nor disabled, and nothing changes.
  CHECK(adapter.UpdateUser(admin->id, {.role = "user"}).status().code() ==
        absl::StatusCode::kAborted);
  CHECK(adapter.UpdateUser(admin->id, {.disabled = true}).status().code() ==
        absl::StatusCode::kAborted);
  CHECK(*adapter.GetUserById(admin->id) == *admin);
  // Changing a plain user touches only the fields set.
  auto changed = adapter.UpdateUser(user->id, {.disabled = true, .password_hash = "h2"});
  REQUIRE(changed.ok());
  CHECK(changed->disabled);
  CHECK(changed->password_hash == "h2");
  CHECK(changed->role == "user");
  CHECK(*adapter.GetUserById(user->id) == *changed);
  // A disabled admin does not count: promoting uma while disabled leaves root the only one.
  REQUIRE(adapter.UpdateUser(user->id, {.role = "admin"}).ok());
  CHECK(adapter.UpdateUser(admin->id, {.role = "user"}).status().code() ==
        absl::StatusCode::kAborted);
  // Once uma is enabled, root may step down.
  REQUIRE(adapter.UpdateUser(user->id, {.disabled = false}).ok());
  auto demoted = adapter.UpdateUser(admin->id, {.role = "user"});
  REQUIRE(demoted.ok());
  CHECK(demoted->role == "user");
  CHECK(adapter.UpdateUser(admin->id + 100, {.role = "user"}).status().code() ==
        absl::StatusCode::kNotFound);
}

TEMPLATE_TEST_CASE("an adapter revokes a user's refresh tokens with an update that asks to",
                   "[contract]", SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto user = AddUser(adapter, "vic");
  auto other = AddUser(adapter, "wes");
  REQUIRE(user.ok());
  REQUIRE(other.ok());
  const int64_t now = 1'000'000;
  for (const auto& [hash, family, owner] :
       {std::tuple{'\x01', "f1", user->id}, std::tuple{'\x02', "f2", user->id},
        std::tuple{'\x03', "f3", other->id}}) {
    REQUIRE(adapter
                .InsertRefreshToken({.token_hash = TokenHash(hash),
                                     .family_id = family,
                                     .user_id = owner,
                                     .expire_micros = now + 1000},
                                    now)
                .ok());
  }
  const RefreshToken next{.token_hash = TokenHash('\x09'), .expire_micros = now + 2000};
  // Without the flag nothing is revoked.
  REQUIRE(adapter.UpdateUser(user->id, {.role = "user"}).ok());
  REQUIRE(
      adapter.UpdateUser(user->id, {.password_hash = "h2", .revoke_refresh_tokens = true}).ok());
  CHECK(RotateCode(adapter, '\x01', next, now + 1) == absl::StatusCode::kUnauthenticated);
  CHECK(RotateCode(adapter, '\x02', next, now + 1) == absl::StatusCode::kUnauthenticated);
  // Another user's session is untouched.
  CHECK(RotateCode(adapter, '\x03', next, now + 1) == absl::StatusCode::kOk);
}

TEMPLATE_TEST_CASE("an adapter deletes a user with everything it owns, and only that", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto admin = AddUser(adapter, "root", "admin");
  auto gone = AddUser(adapter, "xena");
  REQUIRE(admin.ok());
  REQUIRE(gone.ok());
  std::map<int64_t, std::vector<int64_t>> ids;  // user → thought, conversation, pipeline, run
  for (const int64_t owner : {admin->id, gone->id}) {
    Thought thought;
    thought.user_id = owner;
    thought.text = "t";
    thought.tags = {"x"};
    auto t = adapter.InsertThought(thought);
    auto c = adapter.InsertConversation({.user_id = owner, .model = "m", .state = "idle"});
    auto p = adapter.InsertPipeline({.user_id = owner, .name = "p", .definition_json = "{}"});
    auto r = adapter.InsertRun({.user_id = owner, .state = "QUEUED"});
    REQUIRE(t.ok());
    REQUIRE(c.ok());
    REQUIRE(p.ok());
    REQUIRE(r.ok());
    ids[owner] = {t->id, c->id, p->id, r->run.id};
  }
  REQUIRE(adapter
              .InsertApiKey({.user_id = gone->id,
                             .name = "k",
                             .scope = "read",
                             .prefix = "prefix0001",
                             .secret_hash = std::string(32, 's'),
                             .expire_micros = 100})
              .ok());
  REQUIRE(adapter.DeleteUser(gone->id).ok());
  CHECK(adapter.GetUserById(gone->id).status().code() == absl::StatusCode::kNotFound);
  const std::vector<int64_t>& g = ids[gone->id];
  CHECK(adapter.GetThought(gone->id, g[0]).status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.GetConversation(gone->id, g[1], true).status().code() ==
        absl::StatusCode::kNotFound);
  CHECK(adapter.GetPipeline(gone->id, g[2]).status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.GetRun(gone->id, g[3]).status().code() == absl::StatusCode::kNotFound);
  CHECK(adapter.GetApiKeyByPrefix("prefix0001").status().code() == absl::StatusCode::kNotFound);
  const std::vector<int64_t>& a = ids[admin->id];
  CHECK(adapter.GetThought(admin->id, a[0]).ok());
  CHECK(adapter.GetConversation(admin->id, a[1], true).ok());
  CHECK(adapter.GetPipeline(admin->id, a[2]).ok());
  CHECK(adapter.GetRun(admin->id, a[3]).ok());
  // The last enabled admin stays; an unknown user is NOT_FOUND.
  CHECK(adapter.DeleteUser(admin->id).code() == absl::StatusCode::kAborted);
  CHECK(adapter.GetThought(admin->id, a[0]).ok());
  CHECK(adapter.DeleteUser(gone->id).code() == absl::StatusCode::kNotFound);
  // Ids are never reused, so nothing left behind could reach a later account.
  auto next = AddUser(adapter, "yuri");
  REQUIRE(next.ok());
  CHECK(next->id > gone->id);
}

TEMPLATE_TEST_CASE("an adapter stores, finds, lists, touches and revokes API keys", "[contract]",
                   SqliteFixture, FakeFixture) {
  TestType fixture;
  StorageAdapter& adapter = *fixture.adapter;
  auto u1 = AddUser(adapter, "ann");
  auto u2 = AddUser(adapter, "ben");
  REQUIRE(u1.ok());
  REQUIRE(u2.ok());
  const ApiKey wanted{.user_id = u1->id,
                      .name = "backup script",
                      .scope = "read",
                      .prefix = "abcdefgh12",
                      .secret_hash = std::string(32, '\x07'),
                      .create_micros = 10,
                      .expire_micros = 1000};
  auto first = adapter.InsertApiKey(wanted);
  REQUIRE(first.ok());
  CHECK(first->id > 0);
  ApiKey same_prefix = wanted;
  same_prefix.user_id = u2->id;
  CHECK(adapter.InsertApiKey(same_prefix).status().code() == absl::StatusCode::kAlreadyExists);
  ApiKey other = wanted;
  other.user_id = u2->id;
  other.prefix = "zzzzzzzz99";
  other.scope = "write";
  auto second = adapter.InsertApiKey(other);
  REQUIRE(second.ok());

  auto found = adapter.GetApiKeyByPrefix("abcdefgh12");
  REQUIRE(found.ok());
  CHECK(*found == *first);
  CHECK(found->secret_hash == wanted.secret_hash);
  CHECK(found->last_used_micros == 0);
  CHECK(adapter.GetApiKeyByPrefix("nosuchkey0").status().code() == absl::StatusCode::kNotFound);

  auto mine = adapter.ListApiKeys(u1->id);
  REQUIRE(mine.ok());
  REQUIRE(mine->size() == 1);
  CHECK(mine->front().id == first->id);
  auto all = adapter.ListApiKeys(0);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 2);
  CHECK(all->front().id == second->id);  // newest first

  REQUIRE(adapter.TouchApiKey(first->id, 500).ok());
  REQUIRE(adapter.TouchApiKey(first->id, 400).ok());  // never backwards
  CHECK(adapter.GetApiKeyByPrefix("abcdefgh12")->last_used_micros == 500);
  CHECK(adapter.TouchApiKey(first->id + 100, 1).code() == absl::StatusCode::kNotFound);

  // Only the owner (or anyone, with user 0) revokes; a second revoke keeps the first time.
  CHECK(adapter.RevokeApiKey(u2->id, first->id, 600).status().code() ==
        absl::StatusCode::kNotFound);
  auto revoked = adapter.RevokeApiKey(u1->id, first->id, 600);
  REQUIRE(revoked.ok());
  CHECK(revoked->revoke_micros == 600);
  auto again = adapter.RevokeApiKey(0, first->id, 700);
  REQUIRE(again.ok());
  CHECK(again->revoke_micros == 600);
  CHECK(adapter.GetApiKeyByPrefix("abcdefgh12")->revoke_micros == 600);
  CHECK(adapter.GetApiKeyByPrefix("zzzzzzzz99")->revoke_micros == 0);
}

}  // namespace spine::storage
