#include "tools/spinectl/context.h"

#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "libs/rpc/error_info.h"
#include "libs/rpc/status_convert.h"
#include "spine/v1/auth.grpc.pb.h"

namespace spine::spinectl {
namespace {

// A token that expires within this is refreshed before use, so it cannot lapse in flight.
constexpr absl::Duration kExpiryMargin = absl::Seconds(30);

std::string NewRequestId() {
  std::random_device random;
  return absl::StrFormat("spinectl-%08x%08x", random(), random());
}

}  // namespace

absl::Status FromGrpc(const grpc::Status& status, Service service, const std::string& address) {
  absl::Status converted = rpc::FromGrpcStatus(status);
  // gRPC's own messages for an unreachable or slow service do not say which one it was.
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE ||
      status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(converted);
    if (!info) {
      absl::Status named(converted.code(), absl::StrCat(ServiceName(service), " at ", address, ": ",
                                                        converted.message()));
      // The code already says a deadline passed; an unreachable service gets a reason.
      if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return named;
      return rpc::WithErrorInfo(named, "SERVICE_UNAVAILABLE");
    }
  }
  return converted;
}

Context::Context(Settings settings, Format format, std::ostream& out, std::ostream& err)
    : settings_(std::move(settings)), printer_(format, out), out_(out), err_(err) {}

std::shared_ptr<grpc::Channel> Context::Channel(Service service) {
  std::shared_ptr<grpc::Channel>& channel = channels_[static_cast<size_t>(service)];
  if (channel) return channel;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  if (!settings_.ca_file.empty()) {
    std::ifstream in(settings_.ca_file);
    std::stringstream pem;
    pem << in.rdbuf();
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = pem.str();
    credentials = grpc::SslCredentials(options);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(64 << 20);
  channel = grpc::CreateCustomChannel(settings_.address(service), credentials, args);
  return channel;
}

std::unique_ptr<grpc::ClientContext> Context::NewCall(const std::string& bearer,
                                                      std::optional<absl::Duration> timeout) const {
  auto call = std::make_unique<grpc::ClientContext>();
  call->set_deadline(std::chrono::system_clock::now() +
                     absl::ToChronoMilliseconds(timeout.value_or(settings_.timeout)));
  call->AddMetadata("x-request-id", NewRequestId());
  if (!bearer.empty()) call->AddMetadata("authorization", absl::StrCat("Bearer ", bearer));
  return call;
}

absl::Status Context::LoadSession() {
  if (credentials_) return absl::OkStatus();
  absl::StatusOr<std::optional<Credentials>> stored = ReadCredentials(settings_.credentials_path);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) {
    return rpc::WithErrorInfo(absl::UnauthenticatedError("not logged in; run `spinectl login`"),
                              "NOT_LOGGED_IN");
  }
  credentials_ = **std::move(stored);
  return absl::OkStatus();
}

absl::Status Context::SaveSession(const std::string& username, const std::string& access_token,
                                  int32_t expires_in, const std::string& refresh_token) {
  Credentials credentials;
  credentials.gateway = settings_.address(Service::kGateway);
  credentials.username = username;
  credentials.access_token = access_token;
  credentials.access_expires_at = absl::ToUnixSeconds(absl::Now()) + expires_in;
  credentials.refresh_token = refresh_token;
  if (absl::Status written = WriteCredentials(settings_.credentials_path, credentials);
      !written.ok()) {
    return written;
  }
  credentials_ = std::move(credentials);
  return absl::OkStatus();
}

absl::Status Context::Refresh() {
  spine::v1::AuthService::Stub stub(Channel(Service::kGateway));
  spine::v1::RefreshRequest request;
  request.set_refresh_token(credentials_->refresh_token);
  spine::v1::SessionTokens tokens;
  std::unique_ptr<grpc::ClientContext> call = NewCall("");
  const grpc::Status status = stub.Refresh(call.get(), request, &tokens);
  if (!status.ok()) {
    absl::Status error = FromGrpc(status, Service::kGateway, settings_.address(Service::kGateway));
    if (error.code() == absl::StatusCode::kUnauthenticated ||
        error.code() == absl::StatusCode::kPermissionDenied) {
      return rpc::WithErrorInfo(
          absl::UnauthenticatedError(
              absl::StrCat("the session has ended (", error.message(), "); run `spinectl login`")),
          "SESSION_EXPIRED");
    }
    return error;
  }
  return SaveSession(credentials_->username, tokens.access_token(), tokens.expires_in(),
                     tokens.refresh_token());
}

absl::Status Context::Authorized(Service service,
                                 const std::function<grpc::Status(grpc::ClientContext&)>& call,
                                 std::optional<absl::Duration> timeout) {
  if (absl::Status loaded = LoadSession(); !loaded.ok()) return loaded;
  bool refreshed = false;
  if (absl::FromUnixSeconds(credentials_->access_expires_at) - kExpiryMargin <= absl::Now()) {
    if (absl::Status renewed = Refresh(); !renewed.ok()) return renewed;
    refreshed = true;
  }
  while (true) {
    std::unique_ptr<grpc::ClientContext> context = NewCall(credentials_->access_token, timeout);
    const grpc::Status status = call(*context);
    if (status.ok()) return absl::OkStatus();
    // The token may have been revoked or have expired earlier than the clock here says.
    if (status.error_code() == grpc::StatusCode::UNAUTHENTICATED && !refreshed) {
      if (absl::Status renewed = Refresh(); !renewed.ok()) return renewed;
      refreshed = true;
      continue;
    }
    return FromGrpc(status, service, settings_.address(service));
  }
}

}  // namespace spine::spinectl
