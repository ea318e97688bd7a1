#include "libs/rpc/channel.h"

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "libs/rpc/health_client.h"
#include "libs/rpc/request_id.h"

namespace spine::rpc {
namespace {

// gRPC 1.51 shares one callback completion queue among the channels that made a callback call
// and shuts it down (joining its threads) with the last of them. A channel destroyed just after
// its callback returned races that queue's own thread, and the process aborts in
// grpc_cq_internal_unref ("prior > 0"; seen in bench/bus under load, and in tests). One channel
// that made a callback call and lives as long as the process keeps the queue alive. Its one
// call has a deadline already past, so it never waits on the unreachable address.
// Held by a static pointer, not just leaked, so LeakSanitizer sees it reachable.
void KeepCallbackQueueAlive() {
  static const HealthClient* const keeper = [] {
    auto* client = new HealthClient(  // never freed: it must outlive every other channel
        grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
    absl::Notification done;
    client->CheckAsync(absl::ZeroDuration(), [&done](bool /*serving*/) { done.Notify(); });
    done.WaitForNotification();
    return client;
  }();
  (void)keeper;
}

}  // namespace

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address, int64_t max_message_bytes) {
  KeepCallbackQueueAlive();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(max_message_bytes));
  args.SetMaxSendMessageSize(static_cast<int>(max_message_bytes));
  // Reconnect backoff: the peers are Spine's own services, a few channels each, and a dead one
  // refuses a connection at once, so trying often is cheap. Short on both ends because a call
  // meets the channel's backoff: a call made while a channel waits out its first backoff waited
  // with it (gRPC's default 1 s, so a request needing a dead peer took ~1 s to be refused), and
  // a call without wait_for_ready made while the channel waits out a later one fails although
  // the peer may be back (the default reaches two minutes). With these, a restarted peer is
  // reached within ~0.6 s.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  // A connection attempt's own time limit (gRPC's default 20 s). Calls made while the channel is
  // connecting wait for the attempt, wait_for_ready or not; on loopback a dead peer refuses at
  // once, but on a Docker network a killed container's address does not answer at all, and
  // such calls waited ~1.3 s for the attempt to fail (the compose kill test).
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 500);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> MakeClientContext(absl::Duration timeout,
                                                       const Caller* caller) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  if (caller != nullptr && !caller->bearer_token.empty()) {
    context->AddMetadata("authorization", absl::StrCat("Bearer ", caller->bearer_token));
  }
  const std::string& request_id =
      caller != nullptr && !caller->request_id.empty() ? caller->request_id : CurrentRequestId();
  if (!request_id.empty()) context->AddMetadata(kRequestIdHeader, request_id);
  return context;
}

}  // namespace spine::rpc
