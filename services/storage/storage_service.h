// StorageService: the internal gRPC API other services reach data through (service tokens
// only, see storage.proto). Users, login lockout and refresh-token families are served here;
// the RPCs of later slices (conversations, pipelines, runs) are marked generic
// so the shared fallback authenticates them and answers UNIMPLEMENTED naming them.
#pragma once

#include "libs/rpc/caller.h"
#include "services/storage/data_access_service.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::storage {

namespace internal {
using V1 = spine::v1::StorageService;
using StorageServiceBase = V1::WithGenericMethod_CreateConversationRecord<
    V1::WithGenericMethod_GetConversationRecord<V1::WithGenericMethod_ListConversationRecords<
        V1::WithGenericMethod_AppendConversationMessages<
            V1::WithGenericMethod_DeleteConversationRecord<
                V1::WithGenericMethod_CreatePipelineRecord<V1::WithGenericMethod_GetPipelineRecord<
                    V1::WithGenericMethod_ListPipelineRecords<
                        V1::WithGenericMethod_DeletePipelineRecord<
                            V1::WithGenericMethod_CreateRunRecord<
                                V1::WithGenericMethod_UpdateRunRecord<
                                    V1::WithGenericMethod_GetRunRecord<
                                        V1::WithGenericMethod_ListRunRecords<
                                            V1::Service>>>>>>>>>>>>>;
}  // namespace internal

class StorageService final : public internal::StorageServiceBase {
 public:
  // Backups go to `backup_dir` (SPINE_DATA_DIR/backups).
  StorageService(DataAccessService& data, const rpc::Authenticator& authenticator,
                 std::string backup_dir)
      : data_(data), authenticator_(authenticator), backup_dir_(std::move(backup_dir)) {}

  grpc::Status CreateUserRecord(grpc::ServerContext* context,
                                const spine::v1::CreateUserRecordRequest* request,
                                spine::v1::UserRecord* response) override;
  grpc::Status GetUserRecord(grpc::ServerContext* context,
                             const spine::v1::GetUserRecordRequest* request,
                             spine::v1::UserRecord* response) override;
  grpc::Status ListUserRecords(grpc::ServerContext* context,
                               const spine::v1::ListUserRecordsRequest* request,
                               spine::v1::ListUserRecordsResponse* response) override;
  grpc::Status CountUsers(grpc::ServerContext* context, const spine::v1::CountUsersRequest* request,
                          spine::v1::CountUsersResponse* response) override;
  grpc::Status RecordLoginFailure(grpc::ServerContext* context,
                                  const spine::v1::RecordLoginFailureRequest* request,
                                  spine::v1::LoginLockState* response) override;
  grpc::Status GetLoginLock(grpc::ServerContext* context,
                            const spine::v1::GetLoginLockRequest* request,
                            spine::v1::LoginLockState* response) override;
  grpc::Status ResetLoginFailures(grpc::ServerContext* context,
                                  const spine::v1::ResetLoginFailuresRequest* request,
                                  google::protobuf::Empty* response) override;
  grpc::Status CreateRefreshToken(grpc::ServerContext* context,
                                  const spine::v1::CreateRefreshTokenRequest* request,
                                  spine::v1::RefreshTokenRecord* response) override;
  grpc::Status RotateRefreshToken(grpc::ServerContext* context,
                                  const spine::v1::RotateRefreshTokenRequest* request,
                                  spine::v1::RefreshTokenRecord* response) override;
  grpc::Status RevokeRefreshFamily(grpc::ServerContext* context,
                                   const spine::v1::RevokeRefreshFamilyRequest* request,
                                   google::protobuf::Empty* response) override;
  // The recording service is the token's subject, never a request field.
  grpc::Status AppendAuditEvent(grpc::ServerContext* context,
                                const spine::v1::AppendAuditEventRequest* request,
                                spine::v1::AuditEvent* response) override;
  // Admins only (an operator's own token), see storage.proto.
  grpc::Status ListAuditEvents(grpc::ServerContext* context,
                               const spine::v1::ListAuditEventsRequest* request,
                               spine::v1::ListAuditEventsResponse* response) override;
  // Admins only (an operator's own token), see storage.proto.
  grpc::Status BackupDatabase(grpc::ServerContext* context,
                              const spine::v1::BackupDatabaseRequest* request,
                              spine::v1::BackupDatabaseResponse* response) override;

 private:
  DataAccessService& data_;
  const rpc::Authenticator& authenticator_;
  const std::string backup_dir_;
};

}  // namespace spine::storage
