// DataAccess: the business rules between spine-storage's gRPC services and the StorageAdapter,
// one class per domain, each in its own file here. Bad input is rejected with INVALID_ARGUMENT
// naming the field before anything is written; another user's record is NOT_FOUND. None of them
// names a database: the adapter behind them is an interface. All are thread-safe (the adapter is).
// spine-storage's main builds one DataAccess and hands the services the domains they serve.
#pragma once

#include <string>

#include "libs/core/clock.h"
#include "services/storage/access/api_key_access.h"
#include "services/storage/access/audit_log_access.h"
#include "services/storage/access/backup_access.h"
#include "services/storage/access/conversation_access.h"
#include "services/storage/access/login_lock_access.h"
#include "services/storage/access/pipeline_access.h"
#include "services/storage/access/refresh_token_access.h"
#include "services/storage/access/run_access.h"
#include "services/storage/access/thought_access.h"
#include "services/storage/access/user_access.h"
#include "services/storage/page_token.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage {

struct DataAccess {
  // Backups go to `backup_dir`.
  DataAccess(StorageAdapter& adapter, const PageTokenCodec& page_tokens, const Clock& clock,
             std::string backup_dir)
      : thoughts(adapter, page_tokens, clock),
        users(adapter, clock),
        api_keys(adapter, clock),
        login_locks(adapter, clock),
        refresh_tokens(adapter, clock),
        conversations(adapter, page_tokens, clock),
        pipelines(adapter, page_tokens, clock),
        runs(adapter, page_tokens, clock),
        audit_log(adapter, page_tokens, clock),
        backups(adapter, std::move(backup_dir)) {}

  ThoughtAccess thoughts;
  UserAccess users;
  ApiKeyAccess api_keys;
  LoginLockAccess login_locks;
  RefreshTokenAccess refresh_tokens;
  ConversationAccess conversations;
  PipelineAccess pipelines;
  RunAccess runs;
  AuditLogAccess audit_log;
  BackupAccess backups;
};

}  // namespace spine::storage
