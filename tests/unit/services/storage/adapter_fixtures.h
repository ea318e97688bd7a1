// The adapters the StorageAdapter contract suites run against: every TEMPLATE_TEST_CASE of
// the contract takes both, so a behaviour one adapter lacks fails by name.
#pragma once

#include <catch2/catch.hpp>
#include <memory>

#include "services/storage/sqlite/sqlite_adapter.h"
#include "tests/support/child_process.h"
#include "tests/unit/services/storage/fake_storage_adapter.h"

namespace spine::storage {

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

}  // namespace spine::storage
