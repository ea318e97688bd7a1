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

// A client context that always carries a deadline (`timeout` from now) and the request id of the
// work in hand (the caller's, else this thread's CurrentRequestId()), so the next service logs
// the same id; when `caller` is given, also the caller's bearer token so the next service sees the
// same identity.
std::unique_ptr<grpc::ClientContext> MakeClientContext(absl::Duration timeout,
                                                       const Caller* caller = nullptr);

}  // namespace spine::rpc
