// Context: what every command works with — the settings, a channel per service, the session
// (access token refreshed from the stored refresh token when it has expired) and the printer.
#pragma once

#include <functional>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "tools/spinectl/config.h"
#include "tools/spinectl/output.h"

namespace spine::spinectl {

// gRPC status to absl::Status, keeping the ErrorInfo reason from the status details.
absl::Status FromGrpc(const grpc::Status& status, Service service, const std::string& address);

class Context {
 public:
  Context(Settings settings, Format format, std::ostream& out, std::ostream& err);

  const Settings& settings() const { return settings_; }
  const Printer& printer() const { return printer_; }
  std::ostream& out() const { return out_; }
  std::ostream& err() const { return err_; }

  std::shared_ptr<grpc::Channel> Channel(Service service);
  // A client context with the --timeout deadline (or `timeout`), a request id and, when
  // `bearer` is non-empty, the authorization header.
  std::unique_ptr<grpc::ClientContext> NewCall(const std::string& bearer,
                                               std::optional<absl::Duration> timeout = {}) const;

  // Runs `call` with the session's access token; refreshes the token first when it has expired,
  // and once more (retrying the call) when the service answers UNAUTHENTICATED. `call` must not
  // have had an effect when it answers UNAUTHENTICATED (true of every Spine method).
  absl::Status Authorized(Service service,
                          const std::function<grpc::Status(grpc::ClientContext&)>& call,
                          std::optional<absl::Duration> timeout = {});

  // A unary call with the session: `Authorized(service, stub.method(request))`.
  template <typename Stub, typename Request, typename Response>
  absl::Status Unary(Service service,
                     grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
                     const Request& request, Response* response,
                     std::optional<absl::Duration> timeout = {}) {
    Stub stub(Channel(service));
    return Authorized(
        service,
        [&](grpc::ClientContext& call) { return (stub.*method)(&call, request, response); },
        timeout);
  }

  // Stores the tokens of a fresh login or refresh.
  absl::Status SaveSession(const std::string& username, const std::string& access_token,
                           int32_t expires_in, const std::string& refresh_token);

 private:
  absl::Status LoadSession();
  absl::Status Refresh();

  Settings settings_;
  Printer printer_;
  std::ostream& out_;
  std::ostream& err_;
  std::shared_ptr<grpc::Channel> channels_[kAllServices.size()];
  std::optional<Credentials> credentials_;
};

}  // namespace spine::spinectl
