// ExecutorRegistry on a FakeClock: advertisements hold for their ttl, are renewed by repeating,
// and a name stays known while any live executor advertises it.
#include "services/tasks/engine/executor_registry.h"

#include <catch2/catch.hpp>

#include "absl/strings/str_cat.h"

namespace spine::tasks {
namespace {

spine::v1::ExecutorAdvertisement Ad(const std::string& executor, const std::string& kind,
                                    const std::vector<std::string>& names, int ttl_ms = 10000) {
  spine::v1::ExecutorAdvertisement ad;
  ad.set_executor(executor);
  ad.set_kind(kind);
  for (const auto& name : names) ad.add_names(name);
  ad.set_ttl_ms(ttl_ms);
  return ad;
}

TEST_CASE("advertised models and plugins are known until the advertisement lapses") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  CHECK_FALSE(registry.HasModel("stub"));
  REQUIRE(registry.Advertise(Ad("llm@1", "llm", {"stub", "stub-slow"}), "llm").ok());
  REQUIRE(registry.Advertise(Ad("plugins@1", "plugin", {"hello-world"}), "plugins").ok());
  CHECK(registry.HasModel("stub"));
  CHECK(registry.HasPlugin("hello-world"));
  CHECK_FALSE(registry.HasPlugin("stub"));  // kinds do not mix
  CHECK(registry.Names("llm") == std::vector<std::string>{"stub", "stub-slow"});

  clock.Advance(absl::Seconds(9));
  REQUIRE(registry.Advertise(Ad("llm@1", "llm", {"stub"}), "llm").ok());  // renewed, stub-slow gone
  clock.Advance(absl::Seconds(2));
  CHECK(registry.HasModel("stub"));
  CHECK_FALSE(registry.HasModel("stub-slow"));
  CHECK_FALSE(registry.HasPlugin("hello-world"));  // plugins@1 stopped advertising
}

TEST_CASE("a name stays known while any live executor has it") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  REQUIRE(registry.Advertise(Ad("llm@a", "llm", {"stub"}, 1000), "llm").ok());
  REQUIRE(registry.Advertise(Ad("llm@b", "llm", {"stub"}, 5000), "llm").ok());
  clock.Advance(absl::Seconds(2));
  CHECK(registry.HasModel("stub"));
  clock.Advance(absl::Seconds(4));
  CHECK_FALSE(registry.HasModel("stub"));
}

TEST_CASE("malformed advertisements are refused") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  CHECK(registry.Advertise(Ad("llm@a", "gpu", {"x"}), "llm").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("", "llm", {"x"}), "llm").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("llm@a", "llm", {"x"}, 0), "llm").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("llm@a", "llm", {""}), "llm").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("llm@a", "llm", {std::string(129, 'm')}), "llm").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("llm@a", "llm", std::vector<std::string>(1025, "m")), "llm").code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(registry.HasModel("x"));
}

TEST_CASE("a service advertises only its own kind, under its own executor names") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  REQUIRE(registry.Advertise(Ad("llm@host:1", "llm", {"stub"}), "llm").ok());
  // spine-plugins claiming a model, or overwriting spine-llm's executor with a plugin entry
  // (which would erase its models); spine-llm claiming a plugin; nobody.
  CHECK(registry.Advertise(Ad("plugins@x", "llm", {"evil"}), "plugins").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(registry.Advertise(Ad("llm@host:1", "plugin", {"nothing"}), "plugins").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(registry.Advertise(Ad("llm@host:1", "llm", {"nothing"}), "plugins").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(registry.Advertise(Ad("llm@y", "plugin", {"evil"}), "llm").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(registry.Advertise(Ad("llm@host:1", "llm", {"evil"}), "").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(registry.Advertise(Ad("llmx@host:1", "llm", {"evil"}), "llm").code() ==
        absl::StatusCode::kPermissionDenied);
  CHECK(registry.HasModel("stub"));
  CHECK_FALSE(registry.HasModel("evil"));
  CHECK_FALSE(registry.HasPlugin("evil"));
  CHECK_FALSE(registry.HasPlugin("nothing"));
}

TEST_CASE("the number of live executors is bounded") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  for (size_t i = 0; i < ExecutorRegistry::kMaxExecutors; ++i) {
    REQUIRE(registry.Advertise(Ad(absl::StrCat("plugins@", i), "plugin", {"p"}), "plugins").ok());
  }
  CHECK(registry.Advertise(Ad("plugins@one-more", "plugin", {"p"}), "plugins").code() ==
        absl::StatusCode::kResourceExhausted);
  // Renewing a known one still works, and room comes back as advertisements lapse.
  CHECK(registry.Advertise(Ad("plugins@0", "plugin", {"p"}), "plugins").ok());
  clock.Advance(absl::Seconds(11));
  CHECK(registry.Advertise(Ad("plugins@one-more", "plugin", {"p"}), "plugins").ok());
}

TEST_CASE("the status reports both executor kinds with their live executors, zero until heard") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  auto kinds = [&registry] {
    spine::v1::ServiceStatus status;
    registry.ReportKinds(&status);
    std::vector<std::pair<std::string, int>> result;
    for (const auto& kind : status.executor_kinds()) {
      result.emplace_back(kind.kind(), kind.live_executors());
    }
    return result;
  };
  using Kinds = std::vector<std::pair<std::string, int>>;
  CHECK(kinds() == Kinds{{"llm", 0}, {"plugin", 0}});
  // An executor with nothing to run (no plugins loaded) is still heard from.
  REQUIRE(registry.Advertise(Ad("plugins@1", "plugin", {}, 1000), "plugins").ok());
  REQUIRE(registry.Advertise(Ad("llm@a", "llm", {"stub"}, 5000), "llm").ok());
  REQUIRE(registry.Advertise(Ad("llm@b", "llm", {"stub"}, 5000), "llm").ok());
  CHECK(kinds() == Kinds{{"llm", 2}, {"plugin", 1}});
  CHECK(registry.LiveExecutors("llm") == 2);
  // Refused advertisements count for nothing.
  CHECK_FALSE(registry.Advertise(Ad("llm@c", "llm", {"stub"}), "plugins").ok());
  CHECK(registry.LiveExecutors("llm") == 2);
  clock.Advance(absl::Seconds(2));  // plugins@1 lapsed
  CHECK(kinds() == Kinds{{"llm", 2}, {"plugin", 0}});
}

}  // namespace
}  // namespace spine::tasks
