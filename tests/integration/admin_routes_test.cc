// The admin routes over HTTP, against the real services (issue 16): the audit log, backups
// (start, list, download, the offline restore), dead letters and plugin reload — each refused to
// non-admins, each refusing bad input without changing anything.
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "libs/rpc/channel.h"
#include "nlohmann/json.hpp"
#include "spine/v1/common.grpc.pb.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tests/integration/constellation.h"
#include "tests/integration/storage_client.h"
#include "tests/support/http_client.h"
#include "tests/support/poll.h"
#include "tests/support/shell.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

// Polls over HTTP stay well inside the per-address rate limit (100 a minute).
bool PollHttp(const std::function<bool()>& condition) {
  return PollUntil(condition, absl::Seconds(20), absl::Milliseconds(250));
}

std::string AdminBearer(const Constellation& stack) {
  const HttpResult login = HttpRequestTo(
      stack.http_port(), "POST", "/api/auth/login", {{"Content-Type", "application/json"}},
      Json{{"username", Constellation::kAdminUsername}, {"password", Constellation::kAdminPassword}}
          .dump());
  REQUIRE(login.status == 200);
  return "Bearer " + Json::parse(login.body)["accessToken"].get<std::string>();
}

// A plain user's token (the user is created first: the gateway refuses unknown users).
std::string UserBearer(const Constellation& stack, const std::string& id = "7") {
  EnsureUserIds(stack, id);
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  return "Bearer " + *signer.Sign(id, "user" + id, "user");
}

HttpResult Call(const Constellation& stack, const std::string& method, const std::string& target,
                const std::string& bearer, const std::string& body = "") {
  std::map<std::string, std::string> headers;
  if (!bearer.empty()) headers["Authorization"] = bearer;
  if (!body.empty()) headers["Content-Type"] = "application/json";
  return HttpRequestTo(stack.http_port(), method, target, headers, body);
}

std::string Reason(const HttpResult& result) {
  const Json body = Json::parse(result.body, nullptr, false);
  if (!body.is_object() || !body.contains("error") || body["error"]["details"].empty()) return "";
  return body["error"]["details"][0].value("reason", "");
}

// `t` for a query string: RFC 3339 in UTC, whole seconds, nothing that needs escaping.
std::string QueryTime(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  REQUIRE(out.good());
}

// The actions of the audit events an admin lists with `query`.
std::vector<Json> AuditEvents(const Constellation& stack, const std::string& admin,
                              const std::string& query) {
  const HttpResult listed = Call(stack, "GET", "/api/admin/audit?" + query, admin);
  REQUIRE(listed.status == 200);
  const Json body = Json::parse(listed.body);
  return body["events"].get<std::vector<Json>>();
}

// Every admin route, with a body that would be valid for an admin.
struct AdminRoute {
  std::string method;
  std::string target;
  std::string body;
};
const std::vector<AdminRoute> kAdminRoutes = {
    {"GET", "/api/admin/audit", ""},
    {"POST", "/api/admin/backups", R"({"fileName": "by-a-user.db"})"},
    {"GET", "/api/admin/backups", ""},
    {"GET", "/api/admin/backups/any.db", ""},
    {"GET", "/api/admin/queues", ""},
    {"GET", "/api/admin/queues/steps.llm/deadLetters", ""},
    {"POST", "/api/admin/queues/steps.llm/deadLetters/replay", "{}"},
    {"POST", "/api/admin/plugins/reload", ""},
};

TEST_CASE("every admin route refuses a user (403) and a caller without a token (401)") {
  Constellation stack;
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(20)) == 200);
  const std::string user = UserBearer(stack);
  for (const AdminRoute& route : kAdminRoutes) {
    INFO(route.method << " " << route.target);
    const HttpResult as_user = Call(stack, route.method, route.target, user, route.body);
    CHECK(as_user.status == 403);
    CHECK(Json::parse(as_user.body)["error"]["status"] == "PERMISSION_DENIED");
    CHECK(Call(stack, route.method, route.target, "", route.body).status == 401);
  }
  // The refused backup was not made.
  CHECK_FALSE(std::filesystem::exists(stack.data_dir() + "/backups/by-a-user.db"));
}

TEST_CASE("the audit log is listed over HTTP by actor, action and time range, newest first") {
  Constellation stack;
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(20)) == 200);
  const std::string admin = AdminBearer(stack);
  const HttpResult me = Call(stack, "GET", "/api/auth/me", admin);
  REQUIRE(me.status == 200);
  const std::string admin_id = Json::parse(me.body)["id"].get<std::string>();
  const std::string before = QueryTime(absl::Now() - absl::Seconds(1));
  for (const char* name : {"a1.db", "a2.db", "a3.db"}) {
    REQUIRE(
        Call(stack, "POST", "/api/admin/backups", admin, Json{{"fileName", name}}.dump()).status ==
        201);
  }
  REQUIRE(Call(stack, "GET", "/api/admin/backups/a1.db", admin).status == 200);

  const std::vector<Json> backups =
      AuditEvents(stack, admin, "action=storage.backup&actor=" + admin_id);
  REQUIRE(backups.size() == 3);
  CHECK(backups[0]["target"] == "backup:a3.db");  // newest first
  CHECK(backups[2]["target"] == "backup:a1.db");
  for (const Json& event : backups) {
    CHECK(event["actor"] == admin_id);
    CHECK(event["service"] == "storage");
    CHECK(event["outcome"] == "ok");
  }
  // A prefix takes every action under it: the three backups and the download.
  CHECK(AuditEvents(stack, admin, "action=storage.*").size() == 4);
  CHECK(AuditEvents(stack, admin, "action=storage.backup_download").size() == 1);
  CHECK(AuditEvents(stack, admin, "action=storage.backup&actor=someone-else").empty());
  // The time range: everything since `before`, nothing from an hour ahead.
  CHECK(AuditEvents(stack, admin, "action=storage.*&startTime=" + before).size() == 4);
  const std::string later = QueryTime(absl::Now() + absl::Hours(1));
  CHECK(AuditEvents(stack, admin, "action=storage.*&startTime=" + later).empty());
  CHECK(AuditEvents(stack, admin, "action=storage.*&endTime=" + before).empty());

  // Keyset pages of one: each event once, in the same newest-first order.
  std::vector<std::string> paged;
  std::string token;
  for (int i = 0; i < 10; ++i) {
    const HttpResult page = Call(stack, "GET",
                                 "/api/admin/audit?action=storage.backup&pageSize=1" +
                                     (token.empty() ? std::string() : "&pageToken=" + token),
                                 admin);
    REQUIRE(page.status == 200);
    const Json body = Json::parse(page.body);
    REQUIRE(body["events"].size() == 1);
    paged.push_back(body["events"][0]["target"].get<std::string>());
    token = body["nextPageToken"].get<std::string>();
    if (token.empty()) break;
  }
  CHECK(paged == std::vector<std::string>{"backup:a3.db", "backup:a2.db", "backup:a1.db"});

  // Bad filters: 400 naming the field.
  const HttpResult first =
      Call(stack, "GET", "/api/admin/audit?action=storage.backup&pageSize=1", admin);
  const std::string storage_token = Json::parse(first.body)["nextPageToken"].get<std::string>();
  for (const std::string& query :
       {std::string("action=Storage.Backup"), std::string("action=storage."),
        std::string("action=*"), std::string("pageSize=501"), std::string("pageSize=-1"),
        std::string("startTime=yesterday"), std::string("pageToken=forged"),
        absl::StrCat("startTime=", later, "&endTime=", before),
        // A token is bound to the filters it was issued for.
        absl::StrCat("action=llm.*&pageSize=1&pageToken=", storage_token),
        std::string("colour=blue")}) {
    INFO(query);
    const HttpResult refused = Call(stack, "GET", "/api/admin/audit?" + query, admin);
    CHECK(refused.status == 400);
    CHECK(Json::parse(refused.body)["error"]["status"] == "INVALID_ARGUMENT");
  }
}

TEST_CASE(
    "backups are started, listed and downloaded over HTTP, and no name leaves the directory") {
  Constellation stack;
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(20)) == 200);
  const std::string admin = AdminBearer(stack);
  const std::string backups = stack.data_dir() + "/backups";

  const HttpResult made =
      Call(stack, "POST", "/api/admin/backups", admin, R"({"fileName": "nightly.db"})");
  REQUIRE(made.status == 201);
  const Json backup = Json::parse(made.body);
  CHECK(backup["fileName"] == "nightly.db");
  const std::string on_disk = ReadFile(backups + "/nightly.db");
  CHECK(backup["sizeBytes"] == std::to_string(on_disk.size()));
  CHECK(absl::StartsWith(on_disk, "SQLite format 3"));
  // The same name again is a conflict; names with a path in them are refused.
  CHECK(Call(stack, "POST", "/api/admin/backups", admin, R"({"fileName": "nightly.db"})").status ==
        409);
  for (const char* name : {"../escape.db", "a/b.db", ".hidden", "", "x y"}) {
    INFO(name);
    CHECK(
        Call(stack, "POST", "/api/admin/backups", admin, Json{{"fileName", name}}.dump()).status ==
        400);
  }
  CHECK_FALSE(std::filesystem::exists(stack.data_dir() + "/escape.db"));
  CHECK(Call(stack, "POST", "/api/admin/backups", admin, R"({"fileName": 5})").status == 400);

  // A file larger than many messages, and things planted in the directory that are no backups.
  std::string big(3 * 1024 * 1024 + 123, '\0');
  std::mt19937 random(16);
  for (char& c : big) c = static_cast<char>(random());
  WriteFile(backups + "/big.db", big);
  REQUIRE(symlink("../spine.db", (backups + "/link.db").c_str()) == 0);
  REQUIRE(symlink("/etc/passwd", (backups + "/passwd.db").c_str()) == 0);
  REQUIRE(mkdir((backups + "/folder.db").c_str(), 0700) == 0);

  const HttpResult listed = Call(stack, "GET", "/api/admin/backups", admin);
  REQUIRE(listed.status == 200);
  std::map<std::string, std::string> sizes;
  const Json parsed = Json::parse(listed.body);  // named: the loop refers into it
  for (const Json& file : parsed["backups"]) {
    sizes[file["fileName"].get<std::string>()] = file["sizeBytes"].get<std::string>();
    CHECK(file.contains("createdAt"));
  }
  CHECK(sizes ==
        std::map<std::string, std::string>{{"big.db", std::to_string(big.size())},
                                           {"nightly.db", std::to_string(on_disk.size())}});

  const HttpResult downloaded = Call(stack, "GET", "/api/admin/backups/nightly.db", admin);
  REQUIRE(downloaded.status == 200);
  CHECK(downloaded.body == on_disk);
  CHECK(downloaded.headers.at("content-disposition") == "attachment; filename=\"nightly.db\"");
  CHECK(downloaded.headers.at("content-type") == "application/vnd.sqlite3");
  const HttpResult large = Call(stack, "GET", "/api/admin/backups/big.db", admin);
  REQUIRE(large.status == 200);
  CHECK(large.body.size() == big.size());
  CHECK(large.body == big);

  // Nothing outside the backups directory can be read, however the name is spelled.
  const std::map<std::string, int> attacks = {
      {"/api/admin/backups/..%2Fspine.db", 400},   {"/api/admin/backups/%2E%2E", 400},
      {"/api/admin/backups/%2Fetc%2Fpasswd", 400}, {"/api/admin/backups/..%2F..%2Fetc", 400},
      {"/api/admin/backups/spine.db", 404},        {"/api/admin/backups/link.db", 404},
      {"/api/admin/backups/passwd.db", 404},       {"/api/admin/backups/folder.db", 404},
      {"/api/admin/backups/missing.db", 404},      {"/api/admin/backups/.hidden", 400},
  };
  for (const auto& [target, status] : attacks) {
    INFO(target);
    const HttpResult refused = Call(stack, "GET", target, admin);
    CHECK(refused.status == status);
    CHECK_FALSE(absl::StrContains(refused.body, "SQLite format"));
    CHECK_FALSE(absl::StrContains(refused.body, "root:"));
  }
}

// Runs `spine-storage restore <backup>` with the stack's storage environment.
ShellResult RunRestore(const Constellation& stack, const std::string& backup) {
  std::string command = "env -i";
  for (const auto& [name, value] : stack.Env("storage")) {
    command += " ";
    command += ShellQuote(absl::StrCat(name, "=", value));
  }
  command += " " + ShellQuote(SPINE_BINARY_DIR "/services/storage/spine-storage") + " restore " +
             ShellQuote(backup);
  return RunShell(command);
}

std::vector<std::string> ThoughtTexts(const Constellation& stack, const std::string& bearer) {
  const HttpResult listed = Call(stack, "GET", "/api/thoughts", bearer);
  REQUIRE(listed.status == 200);
  std::vector<std::string> texts;
  const Json parsed = Json::parse(listed.body);  // named: the loop refers into it
  for (const Json& thought : parsed["thoughts"]) {
    texts.push_back(thought["text"].get<std::string>());
  }
  return texts;
}

TEST_CASE(
    "an offline restore puts a backup back, checked and audited, and never under a "
    "running storage") {
  Constellation stack;
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(20)) == 200);
  std::string admin = AdminBearer(stack);
  REQUIRE(Call(stack, "POST", "/api/thoughts", admin, R"({"text": "kept"})").status == 201);
  REQUIRE(Call(stack, "POST", "/api/admin/backups", admin, R"({"fileName": "before.db"})").status ==
          201);
  REQUIRE(Call(stack, "POST", "/api/thoughts", admin, R"({"text": "lost"})").status == 201);

  // Refused while spine-storage runs on the data directory: nothing changes.
  const ShellResult running = RunRestore(stack, "before.db");
  INFO(running.output);
  CHECK(running.exit_code != 0);
  CHECK(absl::StrContains(running.output, "stop it first"));
  CHECK(ThoughtTexts(stack, admin) == std::vector<std::string>{"lost", "kept"});

  stack.process("storage").Signal(SIGTERM);
  REQUIRE(stack.process("storage").WaitExit(absl::Seconds(15)).has_value());

  // A damaged backup, or one that is no database at all, is refused before anything moves.
  const std::string backups = stack.data_dir() + "/backups";
  std::string damaged = ReadFile(backups + "/before.db");
  REQUIRE(damaged.size() > 8192);
  for (size_t i = 4096; i < 8192; ++i) damaged[i] = static_cast<char>(i * 7);
  WriteFile(backups + "/damaged.db", damaged);
  WriteFile(backups + "/notes.db", "not a database");
  for (const char* bad : {"damaged.db", "notes.db", "missing.db"}) {
    INFO(bad);
    const ShellResult refused = RunRestore(stack, bad);
    INFO(refused.output);
    CHECK(refused.exit_code != 0);
    CHECK(absl::StrContains(refused.output, "restore refused"));
  }
  // Nothing moved: no database was set aside, no staged copy is left.
  auto set_aside = [&] {
    int found = 0;
    for (const auto& entry : std::filesystem::directory_iterator(stack.data_dir())) {
      found += absl::StartsWith(entry.path().filename().string(), "spine.db.before-restore-");
    }
    return found;
  };
  CHECK(set_aside() == 0);
  CHECK(std::filesystem::exists(stack.data_dir() + "/spine.db"));
  CHECK_FALSE(std::filesystem::exists(stack.data_dir() + "/spine.db.restoring"));

  const ShellResult restored = RunRestore(stack, "before.db");
  INFO(restored.output);
  REQUIRE(restored.exit_code == 0);
  CHECK(absl::StrContains(restored.output, "restored"));

  stack.Restart("storage");
  REQUIRE(stack.WaitHealthy("storage", absl::Seconds(20)));
  REQUIRE(PollHttp([&] { return Call(stack, "GET", "/api/thoughts", admin).status == 200; }));
  CHECK(ThoughtTexts(stack, admin) == std::vector<std::string>{"kept"});
  CHECK(set_aside() == 1);  // the replaced database, kept beside the new one
  // The restore is in the restored database's audit log.
  const std::vector<Json> audited = AuditEvents(stack, admin, "action=storage.restore");
  REQUIRE(audited.size() == 1);
  CHECK(audited[0]["outcome"] == "ok");
  CHECK(audited[0]["target"] == "backup:before.db");
  CHECK(audited[0]["actor"] == "operator");
}

// Fast retries and two deliveries before a dead letter (as bus_test.cc).
const std::map<std::string, std::string> kBusEnv = {
    {"SPINE_BUS_BACKOFF_INITIAL_MS", "50"},
    {"SPINE_BUS_BACKOFF_MAX_MS", "200"},
    {"SPINE_BUS_MAX_DELIVER", "2"},
};

// Publishes `id` on `queue` as spine-tasks and fails both its deliveries, so it is dead.
void MakeDeadLetter(const Constellation& stack, spine::v1::EventBus::Stub& bus,
                    const std::string& queue, const std::string& id) {
  JwtSigner signer(*Ed25519PrivateKey::FromPem(stack.private_key_pem()), RealClock::Instance());
  const std::string token = "Bearer " + *signer.Sign("tasks", "spine-tasks", "service");
  auto context = [&] {
    auto made = rpc::MakeClientContext(absl::Seconds(20));
    made->AddMetadata("authorization", token);
    return made;
  };
  spine::v1::PublishRequest publish;
  publish.set_queue(queue);
  publish.add_messages()->set_message_id(id);
  publish.mutable_messages(0)->set_payload("payload of " + id);
  spine::v1::PublishResponse published;
  REQUIRE(bus.Publish(context().get(), publish, &published).ok());
  auto subscribe_context = context();
  auto stream = bus.Subscribe(subscribe_context.get());
  spine::v1::SubscribeRequest start;
  start.mutable_start()->set_queue(queue);
  start.mutable_start()->set_credits(1);
  REQUIRE(stream->Write(start));
  for (int attempt = 1; attempt <= 2; ++attempt) {
    spine::v1::Delivery delivery;
    if (!stream->Read(&delivery)) {
      const grpc::Status status = stream->Finish();
      FAIL("delivery " << attempt << " of " << id << ": " << status.error_message());
    }
    spine::v1::SubscribeRequest nack;
    nack.mutable_nack()->set_delivery_id(delivery.delivery_id());
    nack.mutable_nack()->set_error(absl::StrCat("failure ", attempt));
    REQUIRE(stream->Write(nack));
  }
  // Half-closing after the nacks, in order: the broker has them before the stream ends.
  REQUIRE(stream->WritesDone());
  (void)stream->Finish();
}

int64_t DeadLetterCount(const Constellation& stack, const std::string& admin,
                        const std::string& queue) {
  const HttpResult queues = Call(stack, "GET", "/api/admin/queues", admin);
  REQUIRE(queues.status == 200);
  const Json parsed = Json::parse(queues.body);  // named: the loop refers into it
  for (const Json& stats : parsed["queues"]) {
    if (stats["queue"] == queue) return std::stoll(stats["deadLetters"].get<std::string>());
  }
  return -1;
}

TEST_CASE("dead letters are listed by queue and replayed over HTTP") {
  Constellation stack({std::begin(Constellation::kServices), std::end(Constellation::kServices)},
                      kBusEnv);
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(20)) == 200);
  const std::string admin = AdminBearer(stack);
  auto bus = spine::v1::EventBus::NewStub(rpc::MakeChannel(stack.GrpcAddress("tasks"), 4 << 20));
  MakeDeadLetter(stack, *bus, "jobs", "m1");
  MakeDeadLetter(stack, *bus, "jobs", "m2");
  REQUIRE(PollHttp([&] { return DeadLetterCount(stack, admin, "jobs") == 2; }));

  const HttpResult listed = Call(stack, "GET", "/api/admin/queues/jobs/deadLetters", admin);
  REQUIRE(listed.status == 200);
  const Json letters = Json::parse(listed.body)["deadLetters"];
  REQUIRE(letters.size() == 2);
  CHECK(letters[0]["queue"] == "jobs");
  CHECK(letters[0]["message"]["messageId"] == "m1");
  CHECK(letters[0]["attempts"] == 2);
  CHECK(letters[0]["lastError"] == "failure 2");
  const HttpResult paged =
      Call(stack, "GET", "/api/admin/queues/jobs/deadLetters?pageSize=1", admin);
  REQUIRE(paged.status == 200);
  CHECK(Json::parse(paged.body)["deadLetters"].size() == 1);
  CHECK_FALSE(Json::parse(paged.body)["nextPageToken"].get<std::string>().empty());

  // Bad input is refused and replays nothing.
  for (const auto& [method, target, body] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"GET", "/api/admin/queues/jobs/deadLetters?pageSize=-1", ""},
           {"GET", "/api/admin/queues/jobs/deadLetters?pageSize=100000", ""},
           {"GET", "/api/admin/queues/jobs/deadLetters?pageToken=x", ""},
           {"GET", "/api/admin/queues/bad%20queue/deadLetters", ""},
           {"POST", "/api/admin/queues/bad%20queue/deadLetters/replay", "{}"},
           {"POST", "/api/admin/queues/jobs/deadLetters/replay", R"({"messageIds": "m1"})"},
           {"POST", "/api/admin/queues/jobs/deadLetters/replay", R"({"unknown": 1})"},
       }) {
    INFO(method << " " << target << " " << body);
    CHECK(Call(stack, method, target, admin, body).status == 400);
  }
  CHECK(DeadLetterCount(stack, admin, "jobs") == 2);

  const HttpResult one = Call(stack, "POST", "/api/admin/queues/jobs/deadLetters/replay", admin,
                              R"({"messageIds": ["m2"]})");
  REQUIRE(one.status == 200);
  CHECK(Json::parse(one.body)["replayed"] == 1);
  CHECK(DeadLetterCount(stack, admin, "jobs") == 1);
  const HttpResult rest =
      Call(stack, "POST", "/api/admin/queues/jobs/deadLetters/replay", admin, "{}");
  REQUIRE(rest.status == 200);
  CHECK(Json::parse(rest.body)["replayed"] == 1);
  CHECK(DeadLetterCount(stack, admin, "jobs") == 0);
  // The replayed messages are back on their queue.
  const HttpResult queues = Call(stack, "GET", "/api/admin/queues", admin);
  const Json parsed = Json::parse(queues.body);  // named: the loop refers into it
  for (const Json& stats : parsed["queues"]) {
    if (stats["queue"] == "jobs") CHECK(stats["depth"] == "2");
  }
  CHECK(PollHttp(
      [&] { return AuditEvents(stack, admin, "action=bus.replay_dead_letters").size() == 2; }));
}

// A plugin folder under `dir` with a plugin.json and an index.js.
void WritePlugin(const std::string& dir, const std::string& name, const std::string& index_js,
                 const std::string& extra_manifest = "") {
  const std::string folder = dir + "/" + name;
  std::filesystem::create_directories(folder);
  REQUIRE(chmod(folder.c_str(), 0755) == 0);
  WriteFile(folder + "/plugin.json",
            absl::StrCat(R"({"name": ")", name, R"(", "version": "1.0.0", "description": "test",)",
                         R"( "runtime": "node", "entry": "index.js")", extra_manifest, "}"));
  WriteFile(folder + "/index.js", index_js);
  REQUIRE(chmod((folder + "/plugin.json").c_str(), 0644) == 0);
  REQUIRE(chmod((folder + "/index.js").c_str(), 0644) == 0);
}

// Answers its version after waiting input.waitMs.
std::string VersionedPlugin(int version) {
  return absl::StrCat(
      "'use strict';\nmodule.exports = async (input) => {\n"
      "  await new Promise((resolve) => setTimeout(resolve, (input && input.waitMs) || 0));\n"
      "  return {version: ",
      version, "};\n};\n");
}

HttpResult Invoke(const Constellation& stack, const std::string& bearer, const std::string& plugin,
                  const Json& input) {
  return Call(stack, "POST", "/api/plugins/" + plugin + "/invoke", bearer,
              Json{{"input", input}, {"timeoutMs", 20000}}.dump());
}

// Processes whose parent is `parent` and that are zombies (exited, not reaped).
int ZombieChildren(pid_t parent) {
  int zombies = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream fields(stat.substr(close + 2));
    char state = '?';
    pid_t ppid = 0;
    fields >> state >> ppid;
    if (ppid == parent && state == 'Z') ++zombies;
  }
  return zombies;
}

TEST_CASE("a plugin reload loads, replaces after in-flight calls, unloads, and reports rejects") {
  TempDir dir;
  REQUIRE(chmod(dir.path().c_str(), 0755) == 0);
  const std::string plugins = dir.path() + "/plugins";
  WritePlugin(plugins, "versioned", VersionedPlugin(1));
  WritePlugin(plugins, "doomed", VersionedPlugin(7));
  WritePlugin(plugins, "steady", VersionedPlugin(3));
  Constellation stack({std::begin(Constellation::kServices), std::end(Constellation::kServices)},
                      {{"SPINE_PLUGINS_DIR", plugins}});
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(20)) == 200);
  const std::string admin = AdminBearer(stack);
  const std::string user = UserBearer(stack);

  // A first call leaves a warm worker holding version 1 in memory; the slow call goes to it.
  const HttpResult warm = Invoke(stack, user, "versioned", Json::object());
  INFO(warm.body);
  REQUIRE(warm.status == 200);
  CHECK(Json::parse(warm.body)["output"]["version"] == 1);
  auto in_flight = std::async(std::launch::async, [&] {
    return Invoke(stack, user, "versioned", Json{{"waitMs", 3000}});
  });
  // Once the host has it, it runs on the old version's warm worker whatever the reload does.
  auto status =
      spine::v1::StatusService::NewStub(rpc::MakeChannel(stack.GrpcAddress("plugins"), 4 << 20));
  REQUIRE(PollUntil([&] {
    auto context = rpc::MakeClientContext(absl::Seconds(5));
    spine::v1::ServiceStatus probe;
    if (!status->GetServiceStatus(context.get(), {}, &probe).ok()) return false;
    for (const spine::v1::PluginCounters& plugin : probe.plugins()) {
      if (plugin.plugin() == "versioned") return plugin.running() + plugin.queued() == 1;
    }
    return false;
  }));

  // The folder changes: one plugin changed, one gone, one new, one with a rejected manifest.
  WritePlugin(plugins, "versioned", VersionedPlugin(2));
  std::filesystem::remove_all(plugins + "/doomed");
  WritePlugin(plugins, "fresh", VersionedPlugin(5));
  WritePlugin(plugins, "broken", VersionedPlugin(9), R"(, "colour": "blue")");

  const HttpResult reloaded = Call(stack, "POST", "/api/admin/plugins/reload", admin);
  INFO(reloaded.body);
  REQUIRE(reloaded.status == 200);
  const Json report = Json::parse(reloaded.body);
  CHECK(report["added"] == Json::array({"fresh"}));
  CHECK(report["replaced"] == Json::array({"versioned"}));
  CHECK(report["removed"] == Json::array({"doomed"}));
  CHECK(report["unchanged"] == Json::array({"steady"}));
  REQUIRE(report["failed"].size() == 1);
  CHECK(report["failed"][0]["name"] == "broken");
  CHECK(report["failed"][0]["state"] == "FAILED");
  CHECK(absl::StrContains(report["failed"][0]["loadError"].get<std::string>(), "colour"));

  // New calls get the new version while the call accepted before finishes on the old one.
  const HttpResult after = Invoke(stack, user, "versioned", Json::object());
  REQUIRE(after.status == 200);
  CHECK(Json::parse(after.body)["output"]["version"] == 2);
  const HttpResult finished = in_flight.get();
  INFO(finished.body);
  REQUIRE(finished.status == 200);
  CHECK(Json::parse(finished.body)["output"]["version"] == 1);

  CHECK(Invoke(stack, user, "fresh", Json::object()).status == 200);
  CHECK(Invoke(stack, user, "steady", Json::object()).status == 200);
  const HttpResult gone = Invoke(stack, user, "doomed", Json::object());
  CHECK(gone.status == 404);
  CHECK(Reason(gone) == "PLUGIN_NOT_FOUND");
  const HttpResult broken = Invoke(stack, user, "broken", Json::object());
  CHECK(broken.status == 503);
  CHECK(Reason(broken) == "PLUGIN_LOAD_FAILED");

  // The listing says the same, the rejected manifest with its reason.
  const HttpResult listed = Call(stack, "GET", "/api/plugins/list", user);
  REQUIRE(listed.status == 200);
  std::map<std::string, Json> by_name;
  const Json parsed = Json::parse(listed.body);  // named: the loop refers into it
  for (const Json& plugin : parsed["plugins"]) {
    by_name[plugin["name"].get<std::string>()] = plugin;
  }
  CHECK_FALSE(by_name.contains("doomed"));
  REQUIRE(by_name.contains("broken"));
  CHECK(by_name["broken"]["state"] == "FAILED");
  CHECK(absl::StrContains(by_name["broken"]["loadError"].get<std::string>(), "colour"));
  CHECK(by_name["fresh"]["state"] == "READY");

  // Nothing changed since: a second reload only says so, and the old workers were reaped.
  const HttpResult again = Call(stack, "POST", "/api/admin/plugins/reload", admin);
  REQUIRE(again.status == 200);
  const Json second = Json::parse(again.body);
  CHECK(second["added"].empty());
  CHECK(second["replaced"].empty());
  CHECK(second["removed"].empty());
  CHECK(second["unchanged"] == Json::array({"fresh", "steady", "versioned"}));
  CHECK(PollUntil([&] { return ZombieChildren(stack.process("plugins").pid()) == 0; }));

  // Both reloads are audited under the admin.
  CHECK(PollHttp([&] { return AuditEvents(stack, admin, "action=plugins.reload").size() == 2; }));
}

}  // namespace
}  // namespace spine::testing
