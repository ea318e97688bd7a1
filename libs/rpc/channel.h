// Client side of service-to-service calls.
#pragma once

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "libs/rpc/caller.h"

namespace spine::rpc {

// A channel to another Spine service with Spine's message-size limits.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, int64_t max_message_bytes);

// A client context that always carries a deadline (`timeout` from now), and, when `caller` is
// given, the caller's bearer token and request id so the next service sees the same identity
// and logs the same request id.
std::unique_ptr<grpc::ClientContext> MakeClientContext(absl::Duration timeout,
                                                       const Caller* caller = nullptr);

}  // namespace spine::rpc
