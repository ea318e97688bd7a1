// StorageService: the internal gRPC API other services reach data through (service tokens
// only, see storage.proto): users, login lockout, refresh-token families, conversations,
// pipelines, runs, the audit log and backups. Each handler authenticates the caller, maps the
// request to the domain's DataAccess class and the result back; the services act for the user id
// they pass, which they took from the user's own verified token.
#pragma once

#include "libs/rpc/caller.h"
#include "services/storage/access/data_access.h"
#include "spine/v1/storage.grpc.pb.h"

namespace spine::storage {

class StorageService final : public spine::v1::StorageService::Service {
 public:
  StorageService(DataAccess& data, const rpc::Authenticator& authenticator)
      : data_(data), authenticator_(authenticator) {}

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
  grpc::Status UpdateUserRecord(grpc::ServerContext* context,
                                const spine::v1::UpdateUserRecordRequest* request,
                                spine::v1::UserRecord* response) override;
  grpc::Status DeleteUserRecord(grpc::ServerContext* context,
                                const spine::v1::DeleteUserRecordRequest* request,
                                google::protobuf::Empty* response) override;
  grpc::Status CreateApiKeyRecord(grpc::ServerContext* context,
                                  const spine::v1::CreateApiKeyRecordRequest* request,
                                  spine::v1::ApiKeyRecord* response) override;
  grpc::Status GetApiKeyRecord(grpc::ServerContext* context,
                               const spine::v1::GetApiKeyRecordRequest* request,
                               spine::v1::ApiKeyRecord* response) override;
  grpc::Status ListApiKeyRecords(grpc::ServerContext* context,
                                 const spine::v1::ListApiKeyRecordsRequest* request,
                                 spine::v1::ListApiKeyRecordsResponse* response) override;
  grpc::Status RevokeApiKeyRecord(grpc::ServerContext* context,
                                  const spine::v1::RevokeApiKeyRecordRequest* request,
                                  spine::v1::ApiKeyRecord* response) override;
  grpc::Status TouchApiKeyRecord(grpc::ServerContext* context,
                                 const spine::v1::TouchApiKeyRecordRequest* request,
                                 google::protobuf::Empty* response) override;
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
  grpc::Status CreateConversationRecord(grpc::ServerContext* context,
                                        const spine::v1::CreateConversationRecordRequest* request,
                                        spine::v1::ConversationRecord* response) override;
  grpc::Status GetConversationRecord(grpc::ServerContext* context,
                                     const spine::v1::GetConversationRecordRequest* request,
                                     spine::v1::ConversationRecord* response) override;
  grpc::Status ListConversationRecords(
      grpc::ServerContext* context, const spine::v1::ListConversationRecordsRequest* request,
      spine::v1::ListConversationRecordsResponse* response) override;
  grpc::Status AppendConversationMessages(
      grpc::ServerContext* context, const spine::v1::AppendConversationMessagesRequest* request,
      spine::v1::ConversationRecord* response) override;
  grpc::Status DeleteConversationRecord(grpc::ServerContext* context,
                                        const spine::v1::DeleteConversationRecordRequest* request,
                                        google::protobuf::Empty* response) override;
  grpc::Status CreatePipelineRecord(grpc::ServerContext* context,
                                    const spine::v1::CreatePipelineRecordRequest* request,
                                    spine::v1::PipelineRecord* response) override;
  grpc::Status GetPipelineRecord(grpc::ServerContext* context,
                                 const spine::v1::GetPipelineRecordRequest* request,
                                 spine::v1::PipelineRecord* response) override;
  grpc::Status ListPipelineRecords(grpc::ServerContext* context,
                                   const spine::v1::ListPipelineRecordsRequest* request,
                                   spine::v1::ListPipelineRecordsResponse* response) override;
  grpc::Status DeletePipelineRecord(grpc::ServerContext* context,
                                    const spine::v1::DeletePipelineRecordRequest* request,
                                    google::protobuf::Empty* response) override;
  grpc::Status CreateRunRecord(grpc::ServerContext* context,
                               const spine::v1::CreateRunRecordRequest* request,
                               spine::v1::CreateRunRecordResponse* response) override;
  grpc::Status UpdateRunRecord(grpc::ServerContext* context,
                               const spine::v1::UpdateRunRecordRequest* request,
                               spine::v1::RunRecord* response) override;
  grpc::Status GetRunRecord(grpc::ServerContext* context,
                            const spine::v1::GetRunRecordRequest* request,
                            spine::v1::RunRecord* response) override;
  grpc::Status ListRunRecords(grpc::ServerContext* context,
                              const spine::v1::ListRunRecordsRequest* request,
                              spine::v1::ListRunRecordsResponse* response) override;
  // The recording service is the token's subject, never a request field.
  grpc::Status AppendAuditEvent(grpc::ServerContext* context,
                                const spine::v1::AppendAuditEventRequest* request,
                                spine::v1::AuditEvent* response) override;
  // Admins only (an operator's own token), see storage.proto.
  grpc::Status AppendAuditEvents(grpc::ServerContext* context,
                                 const spine::v1::AppendAuditEventsRequest* request,
                                 spine::v1::AppendAuditEventsResponse* response) override;
  grpc::Status ListAuditEvents(grpc::ServerContext* context,
                               const spine::v1::ListAuditEventsRequest* request,
                               spine::v1::ListAuditEventsResponse* response) override;
  // Admins only (an operator's own token), see storage.proto.
  grpc::Status BackupDatabase(grpc::ServerContext* context,
                              const spine::v1::BackupDatabaseRequest* request,
                              spine::v1::BackupDatabaseResponse* response) override;
  grpc::Status ListBackups(grpc::ServerContext* context,
                           const spine::v1::ListBackupsRequest* request,
                           spine::v1::ListBackupsResponse* response) override;
  // The file in 64 KiB messages; the first names its content type and file name. gRPC's flow
  // control paces the reads to the client. Audited "storage.backup_download", failures too.
  grpc::Status DownloadBackup(grpc::ServerContext* context,
                              const spine::v1::DownloadBackupRequest* request,
                              grpc::ServerWriter<spine::api::HttpBody>* writer) override;

 private:
  DataAccess& data_;
  const rpc::Authenticator& authenticator_;
};

}  // namespace spine::storage
