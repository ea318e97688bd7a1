// ExecutorRegistry on a FakeClock: advertisements hold for their ttl, are renewed by repeating,
// and a name stays known while any live executor advertises it.
#include "services/tasks/engine/executor_registry.h"

#include <catch2/catch.hpp>

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
  REQUIRE(registry.Advertise(Ad("llm-1", "llm", {"stub", "stub-slow"})).ok());
  REQUIRE(registry.Advertise(Ad("plugins-1", "plugin", {"hello-world"})).ok());
  CHECK(registry.HasModel("stub"));
  CHECK(registry.HasPlugin("hello-world"));
  CHECK_FALSE(registry.HasPlugin("stub"));  // kinds do not mix
  CHECK(registry.Names("llm") == std::vector<std::string>{"stub", "stub-slow"});

  clock.Advance(absl::Seconds(9));
  REQUIRE(registry.Advertise(Ad("llm-1", "llm", {"stub"})).ok());  // renewed, stub-slow gone
  clock.Advance(absl::Seconds(2));
  CHECK(registry.HasModel("stub"));
  CHECK_FALSE(registry.HasModel("stub-slow"));
  CHECK_FALSE(registry.HasPlugin("hello-world"));  // plugins-1 stopped advertising
}

TEST_CASE("a name stays known while any live executor has it") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  REQUIRE(registry.Advertise(Ad("a", "llm", {"stub"}, 1000)).ok());
  REQUIRE(registry.Advertise(Ad("b", "llm", {"stub"}, 5000)).ok());
  clock.Advance(absl::Seconds(2));
  CHECK(registry.HasModel("stub"));
  clock.Advance(absl::Seconds(4));
  CHECK_FALSE(registry.HasModel("stub"));
}

TEST_CASE("malformed advertisements are refused") {
  FakeClock clock;
  ExecutorRegistry registry(clock);
  CHECK(registry.Advertise(Ad("a", "gpu", {"x"})).code() == absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("", "llm", {"x"})).code() == absl::StatusCode::kInvalidArgument);
  CHECK(registry.Advertise(Ad("a", "llm", {"x"}, 0)).code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(registry.HasModel("x"));
}

}  // namespace
}  // namespace spine::tasks
