// spine-storage: reads its config, opens the database, serves until SIGTERM/SIGINT.
// `spine-storage restore <backup>` restores a backup instead, with the service stopped.
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string_view>

#include "libs/rpc/service_main.h"
#include "libs/rpc/signals.h"
#include "services/storage/access/data_access.h"
#include "services/storage/data_dir_lock.h"
#include "services/storage/page_token.h"
#include "services/storage/restore.h"
#include "services/storage/sqlite/sqlite_adapter.h"
#include "services/storage/storage_config.h"
#include "services/storage/storage_service.h"
#include "services/storage/thought_service.h"

namespace {

int Run(const spine::storage::StorageConfig& config) {
  using spine::log::Error;
  spine::Clock& clock = spine::RealClock::Instance();
  const spine::CommonConfig& common = config.common;

  // The database holds password hashes and token hashes: files we create are ours alone.
  umask(0077);
  std::error_code ec;
  std::filesystem::create_directories(common.data_dir, ec);
  if (ec) {
    Error("refusing to start", {{"error", "cannot create SPINE_DATA_DIR: " + ec.message()}});
    return 2;
  }
  // Held while serving: a restore, or a second spine-storage, is refused on this directory.
  auto lock = spine::storage::DataDirLock::Acquire(common.data_dir);
  if (!lock.ok()) {
    Error("refusing to start", {{"error", std::string(lock.status().message())}});
    return 2;
  }
  auto adapter = spine::storage::SqliteAdapter::Open(common.data_dir + "/spine.db",
                                                     static_cast<int>(config.read_connections));
  if (!adapter.ok()) {
    Error("refusing to start", {{"error", std::string(adapter.status().message())}});
    return 2;
  }

  std::string page_token_key = config.page_token_key;
  if (page_token_key.empty()) {
    // Dev mode only (the config refuses this otherwise): tokens then last one process lifetime.
    page_token_key.resize(32);
    RAND_bytes(reinterpret_cast<unsigned char*>(page_token_key.data()), 32);
    spine::log::Warn("no SPINE_PAGE_TOKEN_KEY (dev mode): page tokens will not survive a restart");
  }
  const spine::storage::PageTokenCodec page_tokens(page_token_key);
  spine::storage::DataAccess data(**adapter, page_tokens, clock, common.data_dir + "/backups");

  auto verifier = spine::rpc::LoadJwtVerifier(common, clock);
  if (!verifier.ok()) {
    Error("refusing to start", {{"error", std::string(verifier.status().message())}});
    return 2;
  }
  const spine::rpc::Authenticator authenticator(verifier->get());
  spine::storage::ThoughtService thoughts(data.thoughts, authenticator);
  spine::storage::StorageService internal_api(data, authenticator);

  spine::storage::StorageAdapter& storage = **adapter;
  return spine::rpc::ServeUntilSignal(
      common, common.addresses.storage, authenticator, {&thoughts, &internal_api},
      [&storage, &common](spine::v1::ServiceStatus* status) {
        status->set_db_conn(storage.Ping().ok());
        // Sizes from the file system: cheap, and right even while the database is busy.
        const std::string db = common.data_dir + "/spine.db";
        std::error_code ec;
        const auto db_size = std::filesystem::file_size(db, ec);
        if (!ec) status->set_db_size_bytes(static_cast<int64_t>(db_size));
        const auto wal_size = std::filesystem::file_size(db + "-wal", ec);
        status->set_wal_size_bytes(ec ? 0 : static_cast<int64_t>(wal_size));
      });
}

int Restore(const spine::storage::StorageConfig& config, const std::string& backup) {
  umask(0077);
  auto restored = spine::storage::RestoreDatabase(config.common.data_dir, backup, "operator",
                                                  spine::RealClock::Instance());
  if (!restored.ok()) {
    spine::log::Error("restore refused", {{"error", std::string(restored.status().message())}});
    return 1;
  }
  spine::log::Info("restored", {{"backup", restored->source},
                                {"sizeBytes", std::to_string(restored->size_bytes)},
                                {"schemaVersion", std::to_string(restored->schema_version)},
                                {"previousKeptAs", restored->previous_kept_as}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const bool restore = argc == 3 && std::string_view(argv[1]) == "restore";
  if (argc != 1 && !restore) {
    std::fprintf(stderr,
                 "usage: spine-storage            serve\n"
                 "       spine-storage restore <backup file name or path>\n");
    return 2;
  }
  spine::rpc::BlockTerminationSignals();
  std::optional<spine::storage::StorageConfig> config =
      spine::rpc::LoadConfig<spine::storage::StorageConfig>("storage",
                                                            spine::storage::ReadStorageConfig);
  if (!config) return 2;
  return restore ? Restore(*config, argv[2]) : Run(*config);
}
