// The generic handler for every method a service does not (yet) implement.
//
// Registered on every server so that a Spine RPC whose implementation lands in a later issue
// still authenticates the caller like any other, then answers UNIMPLEMENTED naming the RPC —
// never a silent empty status.
#pragma once

#include "grpcpp/generic/async_generic_service.h"
#include "libs/rpc/caller.h"

namespace spine::rpc {

class FallbackService final : public grpc::CallbackGenericService {
 public:
  explicit FallbackService(const Authenticator& authenticator) : authenticator_(authenticator) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* context) override;

 private:
  const Authenticator& authenticator_;
};

}  // namespace spine::rpc
