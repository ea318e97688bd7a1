// UpstreamClient: forwards one transcoded request to the service that answers its route, as a
// generic unary gRPC call (protobuf reflection + grpc::GenericStub), so a new annotated RPC
// needs no gateway code.
//
// Every call carries a deadline, the caller's `authorization` and the request id. One channel
// per service, created at start and kept for the process's life. Thread-safe; completions
// run on gRPC's threads.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "services/gateway/transcode/route_table.h"

namespace spine::gateway {

struct UpstreamMetadata {
  std::string authorization{};  // the HTTP Authorization header, as sent
  std::string request_id{};
  std::string client_ip{};  // told to the gateway's own AuthService only (edge_identity.h)
  absl::Duration deadline = absl::ZeroDuration();  // zero: the client's default
};

// The initial metadata by which a service asks for 200 instead of a route's 202 (a run that
// ended within its waitMs); nothing else can change the route's status.
inline constexpr char kHttpStatusHeader[] = "x-spine-http-status";

struct UpstreamResponse {
  std::unique_ptr<google::protobuf::Message> message;
  bool finished_early = false;  // the service sent x-spine-http-status: 200
};

// The seam the transcoding handler calls through; tests substitute a fake.
class Upstream {
 public:
  // The upstream's response, or its status (with any ErrorInfo payload, see libs/rpc).
  using Done = std::function<void(absl::StatusOr<UpstreamResponse>)>;
  virtual ~Upstream() = default;
  // Calls route.method on route.upstream; `done` runs exactly once, possibly on another thread.
  virtual void Call(const Route& route, const google::protobuf::Message& request,
                    const UpstreamMetadata& metadata, Done done) const = 0;

  // A server-streaming call in progress.
  class Stream {
   public:
    virtual ~Stream() = default;
    // Ends the call early (the client went away); `done` still runs, with CANCELLED.
    virtual void Cancel() = 0;
    // A paced stream only: asks for the next message. One message per call; the first comes
    // without asking. A no-op when the stream is not waiting for it.
    virtual void Next() {}
  };
  // Each response message, in order, one at a time.
  using OnMessage = std::function<void(std::unique_ptr<google::protobuf::Message>)>;
  // Starts a server-streaming call of route.method: `on_message` for every message, then
  // `done` exactly once with the final status. Both run on gRPC threads. `paced`: after each
  // message the call waits for Stream::Next (gRPC's flow control then holds the service back),
  // for a consumer slower than the service (a download to a slow client).
  virtual std::shared_ptr<Stream> StartStream(const Route& route,
                                              const google::protobuf::Message& request,
                                              const UpstreamMetadata& metadata,
                                              OnMessage on_message,
                                              std::function<void(absl::Status)> done,
                                              bool paced) const = 0;
};

class UpstreamClient final : public Upstream {
 public:
  // `channels` by service name ("storage", "gateway", ...); `deadline` for every call that does
  // not bring its own (UpstreamMetadata::deadline). Calls to "gateway" (its own AuthService)
  // carry the client's address with `edge_key`, so AuthService can believe it; no other
  // service is sent the key.
  UpstreamClient(std::map<std::string, std::shared_ptr<grpc::Channel>> channels,
                 absl::Duration deadline, std::string edge_key = "");

  // `done` runs on a gRPC thread, or inline when the route's service has no channel.
  void Call(const Route& route, const google::protobuf::Message& request,
            const UpstreamMetadata& metadata, Done done) const override;
  // A stream has no overall deadline (a generation may run long); the upstream bounds it.
  std::shared_ptr<Stream> StartStream(const Route& route, const google::protobuf::Message& request,
                                      const UpstreamMetadata& metadata, OnMessage on_message,
                                      std::function<void(absl::Status)> done,
                                      bool paced) const override;

 private:
  // The metadata every call carries.
  void AddMetadata(const Route& route, const UpstreamMetadata& metadata,
                   grpc::ClientContext& context) const;

  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  absl::Duration deadline_;
  std::string edge_key_;
};

}  // namespace spine::gateway
