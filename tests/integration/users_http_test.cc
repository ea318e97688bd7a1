// User administration, API keys and the admin-password recovery command through the real
// gateway's HTTP edge and a real spine-storage: each change and each refusal a client can see,
// and the audit events they leave.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "spine/v1/storage.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

constexpr char kBobPassword[] = "bob's first password";

// One client of the stack's HTTP edge; `credential` is an access token or an API key.
class Http {
 public:
  explicit Http(const Constellation& stack) : port_(stack.http_port()) {}

  HttpResult Call(const std::string& method, const std::string& target,
                  const std::string& credential, const std::string& body = "") const {
    std::map<std::string, std::string> headers;
    if (!credential.empty()) headers.emplace("Authorization", "Bearer " + credential);
    if (!body.empty()) headers.emplace("Content-Type", "application/json");
    return HttpRequestTo(port_, method, target, headers, body);
  }

  // POST /api/auth/login; the session's JSON, or a failed test.
  Json Login(const std::string& username, const std::string& password) const {
    const HttpResult login = Call("POST", "/api/auth/login", "",
                                  Json{{"username", username}, {"password", password}}.dump());
    INFO(login.body);
    REQUIRE(login.status == 200);
    return Json::parse(login.body);
  }
  int LoginStatus(const std::string& username, const std::string& password) const {
    return Call("POST", "/api/auth/login", "",
                Json{{"username", username}, {"password", password}}.dump())
        .status;
  }
  int RefreshStatus(const std::string& refresh_token) const {
    return Call("POST", "/api/auth/refresh", "", Json{{"refreshToken", refresh_token}}.dump())
        .status;
  }
  int MeStatus(const std::string& credential) const {
    return Call("GET", "/api/auth/me", credential).status;
  }

 private:
  int port_;
};

std::string ReasonOf(const HttpResult& result) {
  const Json body = Json::parse(result.body, nullptr, false);
  if (!body.is_object() || !body.contains("error")) return "";
  return body["error"]["details"][0].value("reason", "");
}

void StartStack(Constellation& stack) {
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(15)));
  REQUIRE(stack.WaitHealthy("gateway", absl::Seconds(15)));
  EnsureUserIds(stack, "1");  // waits for the first admin
}

// Creates a user through the admin route and returns its id.
std::string CreateUser(const Http& http, const std::string& admin_token,
                       const std::string& username, const std::string& password,
                       const std::string& role = "user") {
  const HttpResult created =
      http.Call("POST", "/api/users", admin_token,
                Json{{"username", username}, {"password", password}, {"role", role}}.dump());
  INFO(created.body);
  REQUIRE(created.status == 201);
  return Json::parse(created.body)["id"];
}

// The audit actions recorded so far (admin's view, straight from storage), once every one of
// `wanted` is there or 10 s have passed: the gateway writes its events in the background.
std::vector<spine::v1::AuditEvent> AuditEvents(const Constellation& stack,
                                               const std::string& admin_token,
                                               const std::set<std::string>& wanted) {
  auto stub =
      spine::v1::StorageService::NewStub(rpc::MakeChannel(stack.GrpcAddress("storage"), 4 << 20));
  std::vector<spine::v1::AuditEvent> events;
  PollUntil(
      [&] {
        events.clear();
        spine::v1::ListAuditEventsRequest request;
        request.set_page_size(500);
        spine::v1::ListAuditEventsResponse response;
        auto context = rpc::MakeClientContext(absl::Seconds(5));
        context->AddMetadata("authorization", "Bearer " + admin_token);
        if (!stub->ListAuditEvents(context.get(), request, &response).ok()) return false;
        std::set<std::string> seen;
        for (const auto& event : response.events()) {
          events.push_back(event);
          seen.insert(event.action());
        }
        for (const std::string& action : wanted) {
          if (!seen.contains(action)) return false;
        }
        return true;
      },
      absl::Seconds(10), absl::Milliseconds(100));
  return events;
}

const spine::v1::AuditEvent* FindEvent(const std::vector<spine::v1::AuditEvent>& events,
                                       const std::string& action, const std::string& outcome) {
  for (const auto& event : events) {
    if (event.action() == action && event.outcome() == outcome) return &event;
  }
  return nullptr;
}

}  // namespace

TEST_CASE("users over HTTP: own password, admin reset, role, disable, delete, and the attacks") {
  Constellation stack({"storage", "gateway"});
  StartStack(stack);
  const Http http(stack);
  const Json admin = http.Login(Constellation::kAdminUsername, Constellation::kAdminPassword);
  const std::string admin_token = admin["accessToken"];
  const std::string bob_id = CreateUser(http, admin_token, "bob", kBobPassword);
  const Json bob1 = http.Login("bob", kBobPassword);
  const Json bob2 = http.Login("bob", kBobPassword);
  const std::string bob_token = bob1["accessToken"];

  SECTION("a user calling the admin routes gets 403 and changes nothing") {
    CHECK(http.Call("GET", "/api/users", bob_token).status == 403);
    CHECK(http.Call("PUT", "/api/users/1/role", bob_token, R"({"role":"user"})").status == 403);
    CHECK(http.Call("POST", "/api/users/1/disable", bob_token).status == 403);
    CHECK(http.Call("POST", "/api/users/" + bob_id + "/enable", bob_token).status == 403);
    CHECK(http.Call("POST", "/api/users/1/password", bob_token,
                    R"({"password":"a takeover password"})")
              .status == 403);
    CHECK(http.Call("DELETE", "/api/users/1", bob_token).status == 403);
    CHECK(http.LoginStatus(Constellation::kAdminUsername, Constellation::kAdminPassword) == 200);
    CHECK(http.MeStatus(admin_token) == 200);
  }

  SECTION("changing one's own password needs the old one and ends every session") {
    const HttpResult wrong = http.Call(
        "POST", "/api/auth/password", bob_token,
        Json{{"oldPassword", "not bob's password"}, {"newPassword", "bob's second password"}}
            .dump());
    CHECK(wrong.status == 403);
    CHECK(ReasonOf(wrong) == "WRONG_PASSWORD");
    // Nothing changed: the old password still logs in, the sessions still stand.
    CHECK(http.LoginStatus("bob", kBobPassword) == 200);
    CHECK(http.MeStatus(bob_token) == 200);

    const HttpResult weak =
        http.Call("POST", "/api/auth/password", bob_token,
                  Json{{"oldPassword", kBobPassword}, {"newPassword", "short"}}.dump());
    CHECK(weak.status == 400);
    CHECK(absl::StrContains(weak.body, "newPassword"));

    const HttpResult changed = http.Call(
        "POST", "/api/auth/password", bob_token,
        Json{{"oldPassword", kBobPassword}, {"newPassword", "bob's second password"}}.dump());
    INFO(changed.body);
    CHECK(changed.status == 204);
    CHECK(http.MeStatus(bob_token) == 401);  // at once
    CHECK(http.MeStatus(bob2["accessToken"]) == 401);
    CHECK(http.RefreshStatus(bob1["refreshToken"]) == 401);
    CHECK(http.RefreshStatus(bob2["refreshToken"]) == 401);
    CHECK(http.LoginStatus("bob", kBobPassword) == 401);
    CHECK(http.LoginStatus("bob", "bob's second password") == 200);
    // Another user's session is untouched.
    CHECK(http.MeStatus(admin_token) == 200);
    CHECK(http.RefreshStatus(admin["refreshToken"]) == 200);
  }

  SECTION("an admin resets a password, and the user's sessions end") {
    const HttpResult reset = http.Call("POST", "/api/users/" + bob_id + "/password", admin_token,
                                       R"({"password":"set by the admin"})");
    INFO(reset.body);
    CHECK(reset.status == 204);
    CHECK(http.MeStatus(bob_token) == 401);
    CHECK(http.RefreshStatus(bob1["refreshToken"]) == 401);
    CHECK(http.LoginStatus("bob", kBobPassword) == 401);
    CHECK(http.LoginStatus("bob", "set by the admin") == 200);
    CHECK(http.Call("POST", "/api/users/999/password", admin_token,
                    R"({"password":"set by the admin"})")
              .status == 404);
  }

  SECTION("roles change, and the last enabled admin stays (409)") {
    CHECK(ReasonOf(http.Call("PUT", "/api/users/1/role", admin_token, R"({"role":"user"})")) ==
          "LAST_ADMIN");
    CHECK(http.Call("PUT", "/api/users/1/role", admin_token, R"({"role":"user"})").status == 409);
    CHECK(http.Call("POST", "/api/users/1/disable", admin_token).status == 409);
    CHECK(http.Call("DELETE", "/api/users/1", admin_token).status == 409);
    CHECK(http.MeStatus(admin_token) == 200);  // nothing changed
    CHECK(http.Call("PUT", "/api/users/" + bob_id + "/role", admin_token, R"({"role":"root"})")
              .status == 400);

    const HttpResult promoted =
        http.Call("PUT", "/api/users/" + bob_id + "/role", admin_token, R"({"role":"admin"})");
    REQUIRE(promoted.status == 200);
    CHECK(Json::parse(promoted.body)["role"] == "admin");
    // Bob's token still says "user": it stops, and a new login carries the new role.
    CHECK(http.MeStatus(bob_token) == 401);
    const std::string bob_admin = http.Login("bob", kBobPassword)["accessToken"];
    CHECK(http.Call("GET", "/api/users", bob_admin).status == 200);
    // With two admins, one may step down; then the other is the last.
    const HttpResult demoted =
        http.Call("PUT", "/api/users/1/role", bob_admin, R"({"role":"user"})");
    CHECK(demoted.status == 200);
    CHECK(http.MeStatus(admin_token) == 401);
    CHECK(http.Call("PUT", "/api/users/" + bob_id + "/role", bob_admin, R"({"role":"user"})")
              .status == 409);
  }

  SECTION("a disabled user is out at once and back when enabled") {
    const HttpResult disabled = http.Call("POST", "/api/users/" + bob_id + "/disable", admin_token);
    REQUIRE(disabled.status == 200);
    CHECK(Json::parse(disabled.body)["disabled"] == true);
    CHECK(http.MeStatus(bob_token) == 401);
    CHECK(http.Call("GET", "/api/thoughts", bob_token).status == 401);
    CHECK(http.RefreshStatus(bob2["refreshToken"]) == 401);
    CHECK(http.LoginStatus("bob", kBobPassword) == 401);
    const HttpResult listed = http.Call("GET", "/api/users", admin_token);
    REQUIRE(listed.status == 200);
    CHECK(absl::StrContains(listed.body, R"("disabled":true)"));

    REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/enable", admin_token).status == 200);
    const std::string again = http.Login("bob", kBobPassword)["accessToken"];
    CHECK(http.MeStatus(again) == 200);
    // The sessions ended by disabling stay ended.
    CHECK(http.RefreshStatus(bob2["refreshToken"]) == 401);
  }

  SECTION("deleting a user deletes its data, keeps the audit log, and ends its sessions") {
    REQUIRE(http.Call("POST", "/api/thoughts", bob_token, R"({"text":"bob's note"})").status ==
            201);
    const HttpResult listed = http.Call("GET", "/api/thoughts", bob_token);
    REQUIRE(listed.status == 200);
    const std::string thought_id = Json::parse(listed.body)["thoughts"][0]["id"];
    // Records other services keep for bob in storage.
    InternalClient llm(stack, "llm");
    spine::v1::CreateConversationRecordRequest conversation;
    conversation.set_user_id(std::stoll(bob_id));
    conversation.set_model("stub");
    spine::v1::ConversationRecord stored_conversation;
    REQUIRE(llm->CreateConversationRecord(llm.Context().get(), conversation, &stored_conversation)
                .ok());
    InternalClient tasks(stack, "tasks");
    spine::v1::CreatePipelineRecordRequest pipeline;
    pipeline.set_user_id(std::stoll(bob_id));
    pipeline.set_name("p");
    (*pipeline.mutable_definition()->mutable_fields())["steps"].mutable_list_value();
    spine::v1::PipelineRecord stored_pipeline;
    REQUIRE(tasks->CreatePipelineRecord(tasks.Context().get(), pipeline, &stored_pipeline).ok());

    const HttpResult deleted = http.Call("DELETE", "/api/users/" + bob_id, admin_token);
    INFO(deleted.body);
    REQUIRE(deleted.status == 204);
    CHECK(http.MeStatus(bob_token) == 401);
    CHECK(http.RefreshStatus(bob2["refreshToken"]) == 401);
    CHECK(http.LoginStatus("bob", kBobPassword) == 401);
    CHECK(http.Call("DELETE", "/api/users/" + bob_id, admin_token).status == 404);
    CHECK_FALSE(absl::StrContains(http.Call("GET", "/api/users", admin_token).body, "bob"));

    // Bob's records are gone: asked of storage as the services that keep them.
    spine::v1::GetConversationRecordRequest get_conversation;
    get_conversation.set_user_id(std::stoll(bob_id));
    get_conversation.set_id(stored_conversation.id());
    spine::v1::ConversationRecord no_conversation;
    CHECK(llm->GetConversationRecord(llm.Context().get(), get_conversation, &no_conversation)
              .error_code() == grpc::StatusCode::NOT_FOUND);
    spine::v1::GetPipelineRecordRequest get_pipeline;
    get_pipeline.set_user_id(std::stoll(bob_id));
    get_pipeline.set_id(stored_pipeline.id());
    spine::v1::PipelineRecord no_pipeline;
    CHECK(
        tasks->GetPipelineRecord(tasks.Context().get(), get_pipeline, &no_pipeline).error_code() ==
        grpc::StatusCode::NOT_FOUND);
    // A new user never inherits them: ids are not reused.
    const std::string next_id = CreateUser(http, admin_token, "bob", kBobPassword);
    CHECK(std::stoll(next_id) > std::stoll(bob_id));
    const std::string new_bob = http.Login("bob", kBobPassword)["accessToken"];
    CHECK(http.Call("GET", "/api/thoughts/" + thought_id, new_bob).status == 404);
    CHECK(Json::parse(http.Call("GET", "/api/thoughts", new_bob).body)["thoughts"].empty());
    // The audit log still names the deleted user.
    const auto events = AuditEvents(stack, admin_token, {"auth.user.delete"});
    const auto* event = FindEvent(events, "auth.user.delete", "ok");
    REQUIRE(event != nullptr);
    CHECK(event->target() == "user:" + bob_id);
    CHECK(event->actor() == "1");
  }
}

TEST_CASE("the audit log records authentication events with the client's address") {
  Constellation stack({"storage", "gateway"});
  StartStack(stack);
  const Http http(stack);
  const Json admin = http.Login(Constellation::kAdminUsername, Constellation::kAdminPassword);
  const std::string admin_token = admin["accessToken"];
  const std::string bob_id = CreateUser(http, admin_token, "bob", kBobPassword);
  CHECK(http.LoginStatus("bob", "a wrong password") == 401);
  const Json bob = http.Login("bob", kBobPassword);
  // A spent refresh token presented again.
  REQUIRE(http.RefreshStatus(bob["refreshToken"]) == 200);
  CHECK(http.RefreshStatus(bob["refreshToken"]) == 401);
  const Json bob2 = http.Login("bob", kBobPassword);
  REQUIRE(http.Call("POST", "/api/auth/logout", bob2["accessToken"],
                    Json{{"refreshToken", bob2["refreshToken"]}}.dump())
              .status == 204);
  REQUIRE(http.Call("PUT", "/api/users/" + bob_id + "/role", admin_token, R"({"role":"admin"})")
              .status == 200);
  REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/disable", admin_token).status == 200);
  REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/enable", admin_token).status == 200);
  REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/password", admin_token,
                    R"({"password":"set by the admin"})")
              .status == 204);
  const std::string bob_token = http.Login("bob", "set by the admin")["accessToken"];
  REQUIRE(http.Call("POST", "/api/auth/password", bob_token,
                    Json{{"oldPassword", "set by the admin"}, {"newPassword", kBobPassword}}.dump())
              .status == 204);
  const std::string bob_token2 = http.Login("bob", kBobPassword)["accessToken"];
  const HttpResult key = http.Call("POST", "/api/apikeys", bob_token2, R"({"name":"cron"})");
  REQUIRE(key.status == 201);
  const std::string key_id = Json::parse(key.body)["apiKey"]["id"];
  REQUIRE(http.Call("DELETE", "/api/apikeys/" + key_id, bob_token2).status == 204);
  // Ten failures lock the name for this client (API.md's lockout).
  for (int i = 0; i < 10; ++i) http.LoginStatus("carol", "not carol's password");
  CHECK(http.LoginStatus("carol", "not carol's password") == 429);

  const auto events = AuditEvents(
      stack, admin_token,
      {"auth.login", "auth.logout", "auth.refresh.reuse", "auth.lockout", "auth.user.create",
       "auth.user.role", "auth.user.disable", "auth.user.enable", "auth.password.reset",
       "auth.password.change", "auth.apikey.create", "auth.apikey.revoke"});
  const auto* success = FindEvent(events, "auth.login", "ok");
  REQUIRE(success != nullptr);
  const auto* failure = FindEvent(events, "auth.login", "denied");
  REQUIRE(failure != nullptr);
  CHECK(failure->actor() == "gateway");
  CHECK(failure->service() == "gateway");
  const auto& fields = failure->details().fields();
  REQUIRE(fields.contains("clientIp"));
  CHECK(fields.at("clientIp").string_value() == "127.0.0.1");
  CHECK(FindEvent(events, "auth.lockout", "denied") != nullptr);
  CHECK(FindEvent(events, "auth.refresh.reuse", "denied") != nullptr);
  const auto* role = FindEvent(events, "auth.user.role", "ok");
  REQUIRE(role != nullptr);
  CHECK(role->actor() == "1");
  CHECK(role->target() == "user:" + bob_id);
  const auto* change = FindEvent(events, "auth.password.change", "ok");
  REQUIRE(change != nullptr);
  CHECK(change->actor() == bob_id);
  const auto* key_created = FindEvent(events, "auth.apikey.create", "ok");
  REQUIRE(key_created != nullptr);
  CHECK(key_created->target() == "apikey:" + key_id);
  // No event carries a secret.
  for (const auto& event : events) {
    std::string text;
    REQUIRE(event.SerializeToString(&text));
    CHECK_FALSE(absl::StrContains(text, kBobPassword));
    CHECK_FALSE(absl::StrContains(text, "spk_"));
  }
}

TEST_CASE("API keys over HTTP: shown once, scoped, listed with last use, revoked at once") {
  Constellation stack({"storage", "gateway"});
  StartStack(stack);
  const Http http(stack);
  const std::string admin_token =
      http.Login(Constellation::kAdminUsername, Constellation::kAdminPassword)["accessToken"];
  const std::string bob_id = CreateUser(http, admin_token, "bob", kBobPassword);
  const std::string bob_token = http.Login("bob", kBobPassword)["accessToken"];

  const HttpResult made = http.Call("POST", "/api/apikeys", bob_token,
                                    R"({"name":"reporting","scope":"read","expiresInDays":7})");
  INFO(made.body);
  REQUIRE(made.status == 201);
  const Json read_key = Json::parse(made.body);
  const std::string read_secret = read_key["secret"];
  CHECK(absl::StartsWith(read_secret, "spk_"));
  CHECK(read_key["apiKey"]["userId"] == bob_id);
  CHECK(read_key["apiKey"]["scope"] == "read");
  CHECK(absl::StrContains(read_secret, read_key["apiKey"]["prefix"].get<std::string>()));
  const std::string write_secret = Json::parse(
      http.Call("POST", "/api/apikeys", bob_token, R"({"name":"importer","scope":"write"})")
          .body)["secret"];
  CHECK(http.Call("POST", "/api/apikeys", bob_token, R"({"name":"x","scope":"admin"})").status ==
        400);
  CHECK(
      http.Call("POST", "/api/apikeys", bob_token, R"({"name":"x","expiresInDays":366})").status ==
      400);

  // The key acts as bob, within its scope.
  const HttpResult me = http.Call("GET", "/api/auth/me", read_secret);
  REQUIRE(me.status == 200);
  CHECK(Json::parse(me.body)["username"] == "bob");
  CHECK(me.headers.count("ratelimit") == 1);  // limited like any request
  CHECK(http.Call("GET", "/api/thoughts", read_secret).status == 200);
  const HttpResult write_with_read =
      http.Call("POST", "/api/thoughts", read_secret, R"({"text":"nope"})");
  CHECK(write_with_read.status == 403);
  CHECK(ReasonOf(write_with_read) == "API_KEY_SCOPE");
  CHECK(http.Call("POST", "/api/thoughts", write_secret, R"({"text":"from a script"})").status ==
        201);
  // No key manages credentials, whatever its scope.
  CHECK(http.Call("POST", "/api/apikeys", write_secret, R"({"name":"more"})").status == 403);
  CHECK(http.Call("POST", "/api/auth/password", write_secret,
                  Json{{"oldPassword", kBobPassword}, {"newPassword", "a new password!"}}.dump())
            .status == 403);
  CHECK(http.LoginStatus("bob", kBobPassword) == 200);
  // An admin route is still an admin route.
  CHECK(http.Call("GET", "/api/users", read_secret).status == 403);

  // Listed without the secret, with the last use (written in the background).
  Json listed;
  PollUntil(
      [&] {
        const HttpResult list = http.Call("GET", "/api/apikeys", bob_token);
        if (list.status != 200) return false;
        listed = Json::parse(list.body)["apiKeys"];
        return listed.size() == 2 && listed[1].contains("lastUseTime");
      },
      absl::Seconds(10), absl::Milliseconds(250));  // each poll counts toward the rate limit
  REQUIRE(listed.size() == 2);
  CHECK(listed[1]["name"] == "reporting");
  CHECK(listed[1].contains("lastUseTime"));
  CHECK(listed[0]["expireTime"].is_string());
  CHECK_FALSE(absl::StrContains(listed.dump(), read_secret.substr(20)));

  // A wrong secret for a real prefix, an unknown key and a malformed one: the same 401.
  std::string wrong = read_secret;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  const HttpResult wrong_secret = http.Call("GET", "/api/thoughts", wrong);
  const HttpResult unknown =
      http.Call("GET", "/api/thoughts", "spk_000000000000_" + read_secret.substr(17));
  const HttpResult malformed = http.Call("GET", "/api/thoughts", "spk_short");
  CHECK(wrong_secret.status == 401);
  CHECK(ReasonOf(wrong_secret) == "API_KEY_INVALID");
  CHECK(unknown.status == 401);
  CHECK(malformed.status == 401);
  CHECK(Json::parse(wrong_secret.body)["error"]["message"] ==
        Json::parse(unknown.body)["error"]["message"]);

  // Keys of others: a user cannot make one for someone else or revoke another's; an admin can.
  CHECK(http.Call("POST", "/api/apikeys", bob_token, R"({"name":"x","userId":"1"})").status == 403);
  const Json admin_made =
      Json::parse(http.Call("POST", "/api/apikeys", admin_token,
                            Json{{"name", "for bob"}, {"userId", bob_id}, {"scope", "read"}}.dump())
                      .body);
  CHECK(admin_made["apiKey"]["userId"] == bob_id);
  const Json own_admin_key =
      Json::parse(http.Call("POST", "/api/apikeys", admin_token, R"({"name":"mine"})").body);
  const std::string admin_key_id = own_admin_key["apiKey"]["id"];
  CHECK(http.Call("DELETE", "/api/apikeys/" + admin_key_id, bob_token).status == 404);
  CHECK(http.MeStatus(own_admin_key["secret"]) == 200);
  CHECK(http.Call("GET", "/api/apikeys?userId=" + bob_id, admin_token).status == 200);
  CHECK(http.Call("GET", "/api/apikeys?userId=1", bob_token).status == 403);

  // Revoked: refused on the very next request.
  const std::string read_id = read_key["apiKey"]["id"];
  REQUIRE(http.Call("GET", "/api/thoughts", read_secret).status == 200);
  REQUIRE(http.Call("DELETE", "/api/apikeys/" + read_id, bob_token).status == 204);
  CHECK(http.Call("GET", "/api/thoughts", read_secret).status == 401);
  const Json after = Json::parse(http.Call("GET", "/api/apikeys", bob_token).body)["apiKeys"];
  bool marked = false;
  for (const Json& key : after) {
    if (key["id"] == read_id) marked = key.contains("revokeTime");
  }
  CHECK(marked);

  // A disabled user's keys stop at once too, and work again once it is enabled.
  REQUIRE(http.Call("GET", "/api/thoughts", write_secret).status == 200);
  REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/disable", admin_token).status == 200);
  CHECK(http.Call("GET", "/api/thoughts", write_secret).status == 401);
  REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/enable", admin_token).status == 200);
  CHECK(http.Call("GET", "/api/thoughts", write_secret).status == 200);
}

TEST_CASE("reset-admin-password recovers a forgotten admin password from stdin or a file") {
  Constellation stack({"storage", "gateway"});
  StartStack(stack);
  const Http http(stack);
  const Json before = http.Login(Constellation::kAdminUsername, Constellation::kAdminPassword);
  std::string env = "env -i";
  for (const auto& [name, value] : stack.env()) env += " " + name + "=" + ShellQuote(value);
  const std::string command =
      absl::StrCat(env, " ", SPINE_BINARY_DIR, "/services/gateway/spine-gateway ");

  const ShellResult usage = RunShell(command + "reset-admin-password");
  CHECK(usage.exit_code == 2);
  const ShellResult weak = RunShell("echo short | " + command + "reset-admin-password admin");
  CHECK(weak.exit_code == 2);
  CHECK(absl::StrContains(weak.output, "password"));

  const ShellResult reset =
      RunShell("printf 'recovered password 1\\n' | " + command + "reset-admin-password admin");
  INFO(reset.output);
  REQUIRE(reset.exit_code == 0);
  CHECK(absl::StrContains(reset.output, "admin 'admin' (user 1)"));
  CHECK(http.LoginStatus(Constellation::kAdminUsername, Constellation::kAdminPassword) == 401);
  CHECK(http.RefreshStatus(before["refreshToken"]) == 401);  // its sessions ended
  const std::string admin_token =
      http.Login(Constellation::kAdminUsername, "recovered password 1")["accessToken"];

  // A disabled, demoted admin comes back as an enabled admin; a missing one is created.
  const std::string bob_id = CreateUser(http, admin_token, "bob", kBobPassword, "admin");
  REQUIRE(http.Call("POST", "/api/users/" + bob_id + "/disable", admin_token).status == 200);
  const std::string file = stack.data_dir() + "/new-password";
  REQUIRE(RunShell("printf 'from a file 12345' > " + ShellQuote(file)).exit_code == 0);
  const ShellResult revived =
      RunShell(command + "reset-admin-password bob --password-file " + ShellQuote(file));
  INFO(revived.output);
  REQUIRE(revived.exit_code == 0);
  const Json bob = http.Login("bob", "from a file 12345");
  CHECK(Json::parse(http.Call("GET", "/api/auth/me", bob["accessToken"]).body)["role"] == "admin");
  const ShellResult created =
      RunShell(command + "reset-admin-password rescue --password-file " + ShellQuote(file));
  INFO(created.output);
  REQUIRE(created.exit_code == 0);
  CHECK(absl::StrContains(created.output, "created"));
  CHECK(http.LoginStatus("rescue", "from a file 12345") == 200);

  const auto events = AuditEvents(stack, admin_token, {"auth.password.reset"});
  const auto* event = FindEvent(events, "auth.password.reset", "ok");
  REQUIRE(event != nullptr);
  CHECK(event->actor() == "gateway");
  CHECK(event->details().fields().at("via").string_value() == "cli");
}

}  // namespace spine::testing
