// spinectl, the built binary, against a real stack of all five services: every command with its
// JSON output parsed back, a wrong password, an expired access token refreshed from the stored
// refresh token, an insecure credentials file, and a stopped service (a clear error within the
// deadline and a non-zero exit). One stack for all of it, to keep the runtime modest.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <csignal>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"
#include "nlohmann/json.hpp"
#include "tests/integration/constellation.h"
#include "tests/integration/spinectl_runner.h"

namespace spine::testing {
namespace {

using Json = nlohmann::json;

std::string Describe(const std::vector<std::string>& args, const SpinectlResult& result) {
  return absl::StrCat("spinectl ", absl::StrJoin(args, " "), "\nexit ", result.exit_code,
                      "\nstdout: ", result.out, "\nstderr: ", result.err);
}

class Ctl {
 public:
  Ctl(const Constellation& stack, const TempDir& home) : home_(home) {
    env_ = {{"HOME", home.path()},
            {"XDG_CONFIG_HOME", home.path() + "/config"},
            {"SPINE_GATEWAY_GRPC_ADDR", stack.GrpcAddress("gateway")},
            {"SPINE_STORAGE_ADDR", stack.GrpcAddress("storage")},
            {"SPINE_LLM_ADDR", stack.GrpcAddress("llm")},
            {"SPINE_PLUGINS_ADDR", stack.GrpcAddress("plugins")},
            {"SPINE_TASKS_ADDR", stack.GrpcAddress("tasks")}};
  }

  SpinectlResult Run(const std::vector<std::string>& args, const std::string& stdin_text = "") {
    return RunSpinectl(args, env_, stdin_text);
  }
  // Runs a command that must succeed.
  std::string Ok(const std::vector<std::string>& args, const std::string& stdin_text = "") {
    const SpinectlResult result = Run(args, stdin_text);
    INFO(Describe(args, result));
    REQUIRE(result.exit_code == 0);
    return result.out;
  }
  // Runs a command with --json that must succeed, and parses its output.
  Json OkJson(std::vector<std::string> args, const std::string& stdin_text = "") {
    args.push_back("--json");
    const std::string out = Ok(args, stdin_text);
    INFO(out);
    Json json = Json::parse(out, nullptr, /*allow_exceptions=*/false);
    REQUIRE(!json.is_discarded());
    return json;
  }
  std::string credentials_path() const { return home_.path() + "/config/spine/credentials"; }
  Json ReadCredentials() const {
    std::ifstream in(credentials_path());
    std::stringstream text;
    text << in.rdbuf();
    return Json::parse(text.str());
  }
  void WriteCredentials(const Json& json) const {
    std::ofstream(credentials_path(), std::ios::trunc) << json.dump();
  }

 private:
  const TempDir& home_;
  std::map<std::string, std::string> env_;
};

std::vector<Json> JsonLines(const std::string& text) {
  std::vector<Json> lines;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    lines.push_back(Json::parse(line));
  }
  return lines;
}

const char kSummarise[] = R"({"schemaVersion": 1, "steps": [
  {"id": "draft", "llm": {"model": "stub", "prompt": "Summarise: {{input.text}}"}},
  {"id": "shout", "plugin": {"name": "uppercase", "input": {"text": "{{steps.draft.output.text}}"}}}]})";
const char kSlow[] = R"({"schemaVersion": 1, "steps": [
  {"id": "slow", "llm": {"model": "stub-slow", "prompt": "take your time", "maxTokens": 200}}]})";

TEST_CASE("spinectl drives every command against the real stack", "[integration][spinectl]") {
  Constellation stack({"storage", "llm", "plugins", "tasks", "gateway"},
                      {{"SPINE_RATE_LIMIT_PER_MINUTE", "100000"}});
  for (const char* service : Constellation::kServices)
    REQUIRE(stack.WaitHealthy(service, absl::Seconds(30)));
  // Pipelines are accepted once spine-tasks has heard the executors advertise.
  REQUIRE(stack.WaitForHttpStatus("/readyz", 200, absl::Seconds(30)) == 200);
  const TempDir home;
  Ctl ctl(stack, home);
  const std::string admin_password =
      home.WriteFile("admin_password", Constellation::kAdminPassword);
  const std::string wrong_password = home.WriteFile("wrong_password", "not-the-password-at-all\n");
  const std::string user_password = home.WriteFile("user_password", "a-user-password-123\n");

  {
    INFO("help, completion and usage errors need no stack");
    CHECK(absl::StrContains(ctl.Ok({"--help"}), "thoughts"));
    CHECK(absl::StrContains(ctl.Ok({"runs", "watch", "--help"}), "usage: spinectl runs watch"));
    CHECK(absl::StrContains(ctl.Ok({"completion", "bash"}), "complete -o default -F _spinectl"));
    const SpinectlResult usage = ctl.Run({"thoughts", "get"});
    CHECK(usage.exit_code == 2);
    CHECK(absl::StartsWith(usage.err, "spinectl: usage: spinectl thoughts get ID"));
  }
  {
    INFO("before login: a clear error");
    const SpinectlResult result = ctl.Run({"whoami"});
    CHECK(result.exit_code == 26);
    CHECK(absl::StrContains(result.err, "(UNAUTHENTICATED, NOT_LOGGED_IN)"));
  }
  {
    INFO("wrong password: UNAUTHENTICATED, exit 26, nothing stored");
    const SpinectlResult result =
        ctl.Run({"login", "--username", "admin", "--password-file", wrong_password});
    INFO(Describe({"login"}, result));
    CHECK(result.exit_code == 26);
    CHECK(absl::StartsWith(result.err, "spinectl: "));
    CHECK(absl::StrContains(result.err, "(UNAUTHENTICATED"));
    struct stat info {};
    CHECK(stat(ctl.credentials_path().c_str(), &info) != 0);
  }
  {
    INFO("login with the password on stdin; the session is kept at 0600");
    CHECK(absl::StrContains(
        ctl.Ok({"login", "--username", "admin"}, absl::StrCat(Constellation::kAdminPassword, "\n")),
        "logged in as admin"));
    struct stat info {};
    REQUIRE(stat(ctl.credentials_path().c_str(), &info) == 0);
    CHECK((info.st_mode & 0777) == 0600);
    const Json login =
        ctl.OkJson({"login", "--username", "admin", "--password-file", admin_password});
    CHECK(login["expiresIn"].get<int>() > 0);
    CHECK(login["accessToken"] == "");  // tokens stay in the credentials file
  }
  const Json me = ctl.OkJson({"whoami"});
  CHECK(me["username"] == "admin");
  CHECK(me["role"] == "admin");
  const std::string admin_id = me["id"];

  {
    INFO("status: every service up");
    const Json status = ctl.OkJson({"status"});
    CHECK(status["status"] == "ok");
    for (const char* service : Constellation::kServices)
      CHECK(status["services"][service]["up"] == true);
  }

  {
    INFO("users");
    const Json bob = ctl.OkJson({"users", "create", "bob", "--password-file", user_password});
    CHECK(bob["username"] == "bob");
    CHECK(bob["role"] == "user");
    const std::string bob_id = bob["id"];
    const Json users = ctl.OkJson({"users", "list"});
    REQUIRE(users["users"].size() == 2);
    CHECK(ctl.Ok({"users", "list", "--quiet"}) == absl::StrCat(admin_id, "\n", bob_id, "\n"));
    CHECK(ctl.OkJson({"users", "set-role", bob_id, "admin"})["role"] == "admin");
    CHECK(ctl.OkJson({"users", "set-role", bob_id, "user"})["role"] == "user");
    ctl.Ok({"users", "reset-password", bob_id}, "another-password-456\n");
    const SpinectlResult missing = ctl.Run({"users", "set-role", "999", "admin"});
    CHECK(missing.exit_code == 15);
    CHECK(absl::StrContains(missing.err, "(NOT_FOUND, "));
  }

  {
    INFO("thoughts");
    const Json first =
        ctl.OkJson({"thoughts", "create", "first thought about gRPC", "--tag", "a", "--tag", "b"});
    const std::string first_id = first["id"];
    CHECK(first["tags"] == Json::array({"a", "b"}));
    const std::string second_id =
        ctl.Ok({"thoughts", "create", "second thought", "--quiet", "--tag=c,d"});
    REQUIRE(absl::StripTrailingAsciiWhitespace(second_id) != "");
    CHECK(ctl.OkJson({"thoughts", "get", first_id})["text"] == "first thought about gRPC");
    const Json page = ctl.OkJson({"thoughts", "list", "--page-size", "1"});
    REQUIRE(page["thoughts"].size() == 1);
    REQUIRE(page["nextPageToken"] != "");
    const Json next = ctl.OkJson({"thoughts", "list", "--page-size", "1", "--page-token",
                                  page["nextPageToken"].get<std::string>()});
    REQUIRE(next["thoughts"].size() == 1);
    CHECK(next["thoughts"][0]["id"] != page["thoughts"][0]["id"]);
    CHECK(ctl.OkJson({"thoughts", "list", "--tag", "c"})["thoughts"].size() == 1);
    const Json found = ctl.OkJson({"thoughts", "search", "gRPC"});
    REQUIRE(found["thoughts"].size() == 1);
    CHECK(found["thoughts"][0]["id"] == first_id);
    CHECK(ctl.OkJson({"thoughts", "tag", first_id, "z", "--remove", "a"})["tags"] ==
          Json::array({"b", "z"}));
    const Json edited = ctl.OkJson({"thoughts", "edit", first_id, "--text", "edited"});
    CHECK(edited["text"] == "edited");
    CHECK(edited["tags"] == Json::array({"b", "z"}));
    CHECK(ctl.OkJson({"thoughts", "edit", first_id, "--tags", ""})["tags"] == Json::array());
    const std::string table = ctl.Ok({"thoughts", "list"});
    CHECK(absl::StartsWith(table, "ID"));
    CHECK(absl::StrContains(table, "edited"));
    const std::string id = std::string(absl::StripTrailingAsciiWhitespace(second_id));
    ctl.Ok({"thoughts", "delete", id});
    const SpinectlResult gone = ctl.Run({"thoughts", "get", id});
    CHECK(gone.exit_code == 15);
    CHECK(absl::StartsWith(gone.err, "spinectl: "));
    CHECK(absl::StrContains(gone.err, "(NOT_FOUND, "));
  }

  {
    INFO("llm");
    const Json models = ctl.OkJson({"llm", "models"});
    bool stub = false;
    for (const Json& model : models["models"]) stub = stub || model["name"] == "stub";
    CHECK(stub);
    const Json generated = ctl.OkJson({"llm", "generate", "hello there", "--model", "stub"});
    CHECK(generated["text"] != "");
    CHECK(generated["finishReason"] == "stop");
    const std::vector<Json> events =
        JsonLines(ctl.Ok({"llm", "generate", "--stream", "--json", "hello stream"}));
    REQUIRE(events.size() >= 2);
    CHECK(events.front().contains("delta"));
    CHECK(events.back().contains("done"));
    CHECK(ctl.Ok({"llm", "generate", "--stream", "hello stream"}) != "");

    const Json conversation =
        ctl.OkJson({"llm", "conversations", "create", "--title", "chat", "--model", "stub"});
    const std::string id = conversation["id"];
    const Json sent = ctl.OkJson({"llm", "conversations", "send", id, "hi"});
    CHECK(sent["reply"]["role"] == "assistant");
    CHECK(ctl.OkJson({"llm", "conversations", "get", id})["messages"].size() >= 2);
    CHECK(ctl.OkJson({"llm", "conversations", "list"})["conversations"].size() == 1);
    ctl.Ok({"llm", "conversations", "delete", id});
    CHECK(ctl.Run({"llm", "conversations", "get", id}).exit_code == 15);
  }

  {
    INFO("plugins");
    const Json plugins = ctl.OkJson({"plugins", "list"});
    CHECK(plugins["plugins"].size() >= 3);
    const Json hello = ctl.OkJson({"plugins", "get", "hello-world"});
    CHECK(hello["name"] == "hello-world");
    CHECK(hello["state"] == "READY");
    const Json invoked = ctl.OkJson({"plugins", "invoke", "hello-world"}, R"({"name": "Ada"})");
    CHECK(invoked["output"]["greeting"] == "Hello, Ada!");
    const std::string input_file = home.WriteFile("input.json", R"({"text": "abc"})");
    CHECK(ctl.OkJson({"plugins", "invoke", "uppercase", "--input-file",
                      input_file})["output"]["text"] == "ABC");
    CHECK(ctl.Ok({"plugins", "invoke", "uppercase", "--input", R"({"text": "x"})"}) ==
          "{\"text\":\"X\"}\n");
    CHECK(ctl.Run({"plugins", "invoke", "uppercase", "--input", "{not json"}).exit_code == 2);
    CHECK(ctl.Run({"plugins", "get", "no-such-plugin"}).exit_code == 15);
    CHECK(ctl.OkJson({"plugins", "reload"})["unchanged"].size() >= 3);
  }

  {
    INFO("pipelines and runs");
    const std::string summarise = home.WriteFile("summarise.json", kSummarise);
    const std::string invalid = home.WriteFile("invalid.json", R"({"schemaVersion": 1, "steps": [
      {"id": "x", "llm": {"model": "no-such-model", "prompt": "p"}}]})");
    const Json valid = ctl.OkJson({"pipelines", "validate", "--file", summarise});
    CHECK(valid["id"] == "0");
    CHECK(ctl.OkJson({"pipelines", "list"})["pipelines"].size() == 0);  // nothing was saved
    const SpinectlResult rejected = ctl.Run({"pipelines", "validate", "--file", invalid});
    CHECK(rejected.exit_code == 13);
    CHECK(absl::StrContains(rejected.err, "(INVALID_ARGUMENT"));
    CHECK(ctl.OkJson({"pipelines", "list"})["pipelines"].size() == 0);

    const Json created =
        ctl.OkJson({"pipelines", "create", "summarise", "--file", "-"}, kSummarise);
    const std::string pipeline_id = created["id"];
    CHECK(created["name"] == "summarise");
    CHECK(ctl.OkJson({"pipelines", "get", pipeline_id})["definition"]["steps"].size() == 2);
    CHECK(ctl.OkJson({"pipelines", "list"})["pipelines"].size() == 1);

    const Json waited = ctl.OkJson(
        {"runs", "start", pipeline_id, "--wait", "--input", R"({"text": "a long story"})"});
    CHECK(waited["state"] == "SUCCEEDED");
    CHECK(waited["steps"].size() == 2);
    CHECK(waited["output"]["text"] != "");

    const Json started = ctl.OkJson({"runs", "start", pipeline_id, "--input", R"({"text": "x"})"});
    const std::string run_id = started["id"];
    const std::vector<Json> watched = JsonLines(ctl.Ok({"runs", "watch", run_id, "--json"}));
    REQUIRE(!watched.empty());
    CHECK(watched.back()["state"] == "SUCCEEDED");
    const std::string human = ctl.Ok({"runs", "watch", run_id});
    CHECK(absl::StrContains(human, "step draft: SUCCEEDED"));
    CHECK(absl::StrContains(human, "step shout: SUCCEEDED"));
    CHECK(ctl.OkJson({"runs", "get", run_id})["id"] == run_id);
    CHECK(ctl.OkJson({"runs", "list", "--pipeline", pipeline_id})["runs"].size() == 2);
    CHECK(ctl.OkJson({"runs", "list", "--state", "SUCCEEDED"})["runs"].size() == 2);

    const Json slow = ctl.OkJson({"pipelines", "create", "slow"}, kSlow);
    const std::string slow_run = ctl.OkJson({"runs", "start", slow["id"]})["id"];
    ctl.OkJson({"runs", "cancel", slow_run});
    const SpinectlResult cancelled = ctl.Run({"runs", "watch", slow_run, "--json"});
    CHECK(cancelled.exit_code == 20);  // ABORTED: the run did not succeed
    CHECK(JsonLines(cancelled.out).back()["state"] == "CANCELLED");
    CHECK(absl::StrContains(cancelled.err, "ended CANCELLED"));

    ctl.Ok({"pipelines", "delete", slow["id"]});
    CHECK(ctl.Run({"pipelines", "get", slow["id"]}).exit_code == 15);
  }

  {
    INFO("admin: audit, bus, backup");
    const Json audit = ctl.OkJson({"audit", "list", "--since", "1h", "--page-size", "5"});
    CHECK(audit["events"].size() == 5);
    CHECK(audit["nextPageToken"] != "");
    const Json mine = ctl.OkJson({"audit", "list", "--actor", admin_id, "--action", "llm.*"});
    REQUIRE(mine["events"].size() >= 1);
    for (const Json& event : mine["events"]) CHECK(event["actor"] == admin_id);
    CHECK(ctl.OkJson({"audit", "list", "--until", "2000-01-01T00:00:00Z"})["events"].size() == 0);

    const Json queues = ctl.OkJson({"bus", "queues"});
    bool steps_llm = false;
    for (const Json& queue : queues["queues"])
      steps_llm = steps_llm || queue["queue"] == "steps.llm";
    CHECK(steps_llm);
    CHECK(ctl.OkJson({"bus", "dead-letters", "steps.llm"})["deadLetters"].size() == 0);
    CHECK(ctl.OkJson({"bus", "replay", "steps.llm", "--all"})["replayed"] == 0);

    const Json backup = ctl.OkJson({"backup", "start", "--name", "spinectl.db"});
    CHECK(backup["fileName"] == "spinectl.db");
    const Json backups = ctl.OkJson({"backup", "list"});
    REQUIRE(backups["backups"].size() == 1);
    CHECK(backups["backups"][0]["fileName"] == "spinectl.db");
  }

  {
    INFO("an expired access token is refreshed from the stored refresh token");
    auto key = Ed25519PrivateKey::FromPem(stack.private_key_pem());
    REQUIRE(key.ok());
    const JwtSigner signer(*std::move(key), RealClock::Instance());
    AccessClaims claims{admin_id,
                        "admin",
                        "admin",
                        absl::Now() - absl::Minutes(30),
                        absl::Now() - absl::Minutes(10),
                        std::nullopt,
                        "expired-jti"};
    auto expired = signer.SignClaims(claims);
    REQUIRE(expired.ok());
    Json credentials = ctl.ReadCredentials();
    const std::string refresh_before = credentials["refreshToken"];

    // The file says the token is still good: the service's UNAUTHENTICATED makes it refresh.
    credentials["accessToken"] = *expired;
    credentials["accessExpiresAt"] = absl::ToUnixSeconds(absl::Now() + absl::Hours(1));
    ctl.WriteCredentials(credentials);
    CHECK(ctl.OkJson({"whoami"})["username"] == "admin");
    Json after = ctl.ReadCredentials();
    CHECK(after["accessToken"] != *expired);
    CHECK(after["refreshToken"] != refresh_before);  // rotated, and the new one kept

    // The file says it has expired: refreshed before the call.
    after["accessToken"] = *expired;
    after["accessExpiresAt"] = absl::ToUnixSeconds(absl::Now() - absl::Minutes(1));
    ctl.WriteCredentials(after);
    CHECK(ctl.OkJson({"thoughts", "list"})["thoughts"].size() == 1);
    CHECK(ctl.ReadCredentials()["accessToken"] != *expired);

    // A refresh token the gateway does not know ends the session with a clear error.
    Json broken = ctl.ReadCredentials();
    const Json good = broken;
    broken["accessToken"] = *expired;
    broken["refreshToken"] = "not-a-refresh-token";
    ctl.WriteCredentials(broken);
    const SpinectlResult ended = ctl.Run({"whoami"});
    CHECK(ended.exit_code == 26);
    CHECK(absl::StrContains(ended.err, "(UNAUTHENTICATED, SESSION_EXPIRED)"));
    ctl.WriteCredentials(good);
  }

  {
    INFO("a credentials file others can read is refused");
    REQUIRE(chmod(ctl.credentials_path().c_str(), 0644) == 0);
    const SpinectlResult refused = ctl.Run({"whoami"});
    CHECK(refused.exit_code == 19);
    CHECK(absl::StrContains(refused.err, "(FAILED_PRECONDITION, CREDENTIALS_INSECURE)"));
    REQUIRE(chmod(ctl.credentials_path().c_str(), 0600) == 0);
    ctl.Ok({"whoami"});
  }

  {
    INFO("a stopped service: a clear error within the deadline, non-zero exit");
    stack.process("llm").Signal(SIGKILL);
    REQUIRE(stack.process("llm").WaitExit(absl::Seconds(10)).has_value());
    const SpinectlResult down = ctl.Run({"llm", "models", "--timeout", "3s"});
    INFO(Describe({"llm", "models"}, down));
    CHECK(down.exit_code == 24);
    CHECK(absl::StrContains(down.err, absl::StrCat("llm at ", stack.GrpcAddress("llm"))));
    CHECK(absl::StrContains(down.err, "(UNAVAILABLE, SERVICE_UNAVAILABLE)"));
    CHECK(down.elapsed < absl::Seconds(6));
    const SpinectlResult status = ctl.Run({"status", "--json"});
    CHECK(status.exit_code == 24);
    const Json body = Json::parse(status.out);
    CHECK(body["status"] == "degraded");
    CHECK(body["services"]["llm"]["up"] == false);
    CHECK(body["services"]["storage"]["up"] == true);
  }

  {
    INFO("logout ends the session here and at the gateway");
    const std::string refresh = ctl.ReadCredentials()["refreshToken"];
    ctl.Ok({"logout"});
    struct stat info {};
    CHECK(stat(ctl.credentials_path().c_str(), &info) != 0);
    CHECK(ctl.Run({"whoami"}).exit_code == 26);
    ctl.WriteCredentials({{"refreshToken", refresh}, {"accessToken", ""}, {"accessExpiresAt", 0}});
    chmod(ctl.credentials_path().c_str(), 0600);
    const SpinectlResult revoked = ctl.Run({"whoami"});
    CHECK(revoked.exit_code == 26);
    CHECK(absl::StrContains(revoked.err, "SESSION_EXPIRED"));
  }
}

}  // namespace
}  // namespace spine::testing
