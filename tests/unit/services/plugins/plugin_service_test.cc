// PluginService::Validate: the request rules of API.md, against a host with no workers started.
#include "services/plugins/plugin_service.h"

#include <catch2/catch.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "libs/rpc/error_info.h"
#include "nlohmann/json.hpp"

namespace spine::plugins {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

std::unique_ptr<PluginHost> HostWith(int32_t plugin_timeout_ms) {
  LoadedPlugin plugin;
  plugin.manifest.set_name("echo");
  plugin.limits.timeout_ms = plugin_timeout_ms;
  plugin.limits.concurrency = 1;
  std::vector<LoadedPlugin> plugins;
  plugins.push_back(plugin);
  static FakeClock clock;
  auto host = PluginHost::Create(std::move(plugins), HostOptions{}, clock);
  REQUIRE(host.ok());
  return *std::move(host);
}

spine::v1::InvokePluginRequest Request(const std::string& input_json,
                                       std::optional<int32_t> timeout_ms = std::nullopt) {
  spine::v1::InvokePluginRequest request;
  request.set_name("echo");
  REQUIRE(google::protobuf::util::JsonStringToMessage(input_json, request.mutable_input()).ok());
  if (timeout_ms) request.set_timeout_ms(*timeout_ms);
  return request;
}

}  // namespace

TEST_CASE("an invoke request becomes one JSON line with the earliest deadline") {
  auto host = HostWith(5000);
  absl::StatusOr<Invocation> invocation =
      PluginService::Validate(Request(R"({"name": "Ada", "n": [1, 2]})"), *host, InvokeLimits{},
                              absl::InfiniteFuture(), kNow);
  REQUIRE(invocation.ok());
  CHECK(invocation->plugin == "echo");
  // One line of JSON (map order is protobuf's affair).
  CHECK(invocation->input_json.find('\n') == std::string::npos);
  CHECK(nlohmann::json::parse(invocation->input_json) ==
        nlohmann::json::parse(R"({"name":"Ada","n":[1,2]})"));
  CHECK(invocation->deadline == kNow + absl::Milliseconds(5000));

  // A shorter timeoutMs or RPC deadline wins; a longer one is capped by the plugin's limit.
  CHECK(PluginService::Validate(Request("1", 100), *host, InvokeLimits{}, absl::InfiniteFuture(),
                                kNow)
            ->deadline == kNow + absl::Milliseconds(100));
  CHECK(PluginService::Validate(Request("1", 60000), *host, InvokeLimits{}, absl::InfiniteFuture(),
                                kNow)
            ->deadline == kNow + absl::Milliseconds(5000));
  CHECK(PluginService::Validate(Request("1"), *host, InvokeLimits{}, kNow + absl::Seconds(1), kNow)
            ->deadline == kNow + absl::Seconds(1));

  spine::v1::InvokePluginRequest no_input;
  no_input.set_name("echo");
  CHECK(PluginService::Validate(no_input, *host, InvokeLimits{}, absl::InfiniteFuture(), kNow)
            ->input_json == "null");
}

TEST_CASE("the timeout that bounds an invocation is kept, to be named when it runs out") {
  auto host = HostWith(5000);
  auto limit = [&](std::optional<int32_t> timeout_ms, absl::Time rpc_deadline) {
    return PluginService::Validate(Request("1", timeout_ms), *host, InvokeLimits{}, rpc_deadline,
                                   kNow)
        ->timeout_ms;
  };
  CHECK(limit(1000, absl::InfiniteFuture()) == 1000);
  CHECK(limit(std::nullopt, absl::InfiniteFuture()) == 5000);  // the plugin's own
  CHECK(limit(60000, absl::InfiniteFuture()) == 5000);
  CHECK(limit(1000, kNow + absl::Milliseconds(500)) == 0);  // the RPC's deadline came first

  const absl::Status named = NameTimeout(absl::DeadlineExceededError("slow"), "echo", 1000);
  CHECK(named.code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(named.message() == "plugin 'echo' exceeded its 1000 ms timeout");
  CHECK(rpc::GetErrorInfo(named)->reason() == "PLUGIN_TIMEOUT");
  CHECK(rpc::GetErrorInfo(named)->metadata().at("timeoutMs") == "1000");
  CHECK(NameTimeout(absl::DeadlineExceededError("slow"), "echo", 0).message() == "slow");
  CHECK(NameTimeout(absl::CancelledError("gone"), "echo", 1000).message() == "gone");
}

TEST_CASE("a failed invocation keeps the last of its logs that fit on the error") {
  const absl::Status failed =
      rpc::WithErrorInfo(absl::InternalError("plugin 'echo' failed: no"), "PLUGIN_ERROR");
  const absl::Status with = WithLogs(failed, {"first", "second"});
  CHECK(with.code() == absl::StatusCode::kInternal);
  CHECK(with.message() == failed.message());
  CHECK(rpc::GetErrorInfo(with)->reason() == "PLUGIN_ERROR");
  CHECK(rpc::GetErrorInfo(with)->metadata().at("logs") == "first\nsecond");
  const std::vector<std::string> many(100, std::string(999, 'x'));
  const std::string kept = rpc::GetErrorInfo(WithLogs(failed, many))->metadata().at("logs");
  CHECK(kept.size() <= kMaxErrorLogBytes);
  CHECK(kept.size() >= kMaxErrorLogBytes - 1000);
  CHECK(rpc::GetErrorInfo(WithLogs(failed, {}))->metadata().count("logs") == 0);
}

TEST_CASE("bad invoke requests are refused before reaching the host") {
  auto host = HostWith(5000);
  for (const int32_t timeout : {0, -1, 60001}) {
    INFO(timeout);
    CHECK(PluginService::Validate(Request("1", timeout), *host, InvokeLimits{},
                                  absl::InfiniteFuture(), kNow)
              .status()
              .code() == absl::StatusCode::kInvalidArgument);
  }
  const std::string big = "\"" + std::string(size_t{256} * 1024, 'x') + "\"";
  const absl::Status too_big =
      PluginService::Validate(Request(big), *host, InvokeLimits{}, absl::InfiniteFuture(), kNow)
          .status();
  CHECK(too_big.code() == absl::StatusCode::kInvalidArgument);
  CHECK(rpc::GetErrorInfo(too_big)->reason() == "INPUT_TOO_LARGE");
  // Exactly at the limit passes.
  const std::string fits = "\"" + std::string(size_t{256} * 1024 - 2, 'x') + "\"";
  CHECK(PluginService::Validate(Request(fits), *host, InvokeLimits{}, absl::InfiniteFuture(), kNow)
            .ok());

  spine::v1::InvokePluginRequest unknown = Request("1");
  unknown.set_name("nope");
  const absl::Status not_found =
      PluginService::Validate(unknown, *host, InvokeLimits{}, absl::InfiniteFuture(), kNow)
          .status();
  CHECK(not_found.code() == absl::StatusCode::kNotFound);
  CHECK(rpc::GetErrorInfo(not_found)->reason() == "PLUGIN_NOT_FOUND");
}

TEST_CASE("while the sandbox is unavailable every invocation is refused with its reason") {
  auto host = HostWith(5000);
  host->SetSandboxAvailable(false);
  const InvokeResult result = host->InvokeAndWait("echo", "1", absl::Seconds(1));
  CHECK(result.output.status().code() == absl::StatusCode::kUnavailable);
  CHECK(rpc::GetErrorInfo(result.output.status())->reason() == "SANDBOX_UNAVAILABLE");
}

}  // namespace spine::plugins

namespace spine::plugins {

TEST_CASE("a plugin refused at load is listed FAILED and every call to it says why") {
  LoadedPlugin echo;
  echo.manifest.set_name("echo");
  echo.limits.concurrency = 1;
  std::vector<LoadedPlugin> plugins = {echo};
  RefusedPlugin locked{.name = "locked",
                       .manifest = {},
                       .why = absl::FailedPreconditionError(
                           "entry: the plugin folder is not readable by the sandbox user 65534")};
  locked.manifest.set_version("1.0.0");
  locked.manifest.set_description(std::string(5000, 'd'));
  // A second entry for a plugin that loaded is not listed twice.
  const RefusedPlugin again{
      .name = "echo", .manifest = {}, .why = absl::InvalidArgumentError("name: already loaded")};
  static FakeClock clock;
  auto host = PluginHost::Create(std::move(plugins), HostOptions{}, clock, {}, {locked, again});
  REQUIRE(host.ok());
  REQUIRE((*host)->refused().size() == 1);
  CHECK_FALSE((*host)->FindRefused("echo").has_value());
  REQUIRE((*host)->FindRefused("locked").has_value());

  spine::v1::Plugin listed;
  FillRefused(*(*host)->FindRefused("locked"), &listed);
  CHECK(listed.name() == "locked");
  CHECK(listed.state() == spine::v1::Plugin::FAILED);
  CHECK(listed.version() == "1.0.0");
  CHECK(listed.description().size() == 1024);
  CHECK(listed.load_error() ==
        "entry: the plugin folder is not readable by the sandbox user 65534");
  CHECK_FALSE(listed.has_manifest());

  spine::v1::InvokePluginRequest request;
  request.set_name("locked");
  const absl::Status refused =
      PluginService::Validate(request, **host, InvokeLimits{}, absl::InfiniteFuture(), kNow)
          .status();
  CHECK(refused.code() == absl::StatusCode::kUnavailable);
  CHECK(rpc::GetErrorInfo(refused)->reason() == "PLUGIN_LOAD_FAILED");
  CHECK(refused.message() ==
        "plugin 'locked' could not be loaded: entry: the plugin folder is not readable by the "
        "sandbox user 65534");
  // Through the host too (pipeline steps submit there directly).
  const InvokeResult result = (*host)->InvokeAndWait("locked", "1", absl::Seconds(1));
  CHECK(result.output.status() == refused);
}

}  // namespace spine::plugins
