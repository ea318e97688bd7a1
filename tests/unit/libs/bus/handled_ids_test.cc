// HandledIds: the consumer's bounded dedupe table.
#include "libs/bus/handled_ids.h"

#include <catch2/catch.hpp>
#include <string>

namespace spine::bus {
namespace {

TEST_CASE("handled ids are remembered until capacity pushes the oldest out") {
  HandledIds ids(3);
  CHECK_FALSE(ids.Contains("a"));
  ids.Insert("a");
  ids.Insert("b");
  ids.Insert("c");
  CHECK(ids.Contains("a"));
  CHECK(ids.Contains("b"));
  CHECK(ids.Contains("c"));
  CHECK(ids.size() == 3);
  ids.Insert("d");  // forgets "a", the oldest
  CHECK_FALSE(ids.Contains("a"));
  CHECK(ids.Contains("b"));
  CHECK(ids.Contains("d"));
  CHECK(ids.size() == 3);
}

TEST_CASE("inserting a known id again neither grows the table nor renews it") {
  HandledIds ids(2);
  ids.Insert("a");
  ids.Insert("b");
  ids.Insert("a");
  CHECK(ids.size() == 2);
  ids.Insert("c");  // "a" is still the oldest
  CHECK_FALSE(ids.Contains("a"));
  CHECK(ids.Contains("b"));
  CHECK(ids.Contains("c"));
}

TEST_CASE("the table stays bounded however many ids pass through it") {
  HandledIds ids(100);
  for (int i = 0; i < 10000; ++i) ids.Insert("m" + std::to_string(i));
  CHECK(ids.size() == 100);
  CHECK(ids.Contains("m9999"));
  CHECK(ids.Contains("m9900"));
  CHECK_FALSE(ids.Contains("m9899"));
}

TEST_CASE("a zero capacity is taken as one") {
  HandledIds ids(0);
  ids.Insert("a");
  CHECK(ids.Contains("a"));
  ids.Insert("b");
  CHECK_FALSE(ids.Contains("a"));
  CHECK(ids.size() == 1);
}

}  // namespace
}  // namespace spine::bus
