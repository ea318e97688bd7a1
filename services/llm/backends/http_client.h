// HttpClient: asynchronous HTTP requests for the model backends, over libcurl's multi interface.
//
// One thread drives every transfer (no thread per request): it starts queued requests, streams
// each response body to its handler as it arrives, enforces the connect timeout and the
// request's deadline, and aborts cancelled transfers at once (Cancel wakes it through
// curl_multi_wakeup). Connections are kept alive and reused across requests to the same host.
// At most `max_transfers` run at once; a request beyond that is refused with UNAVAILABLE rather
// than queued, because the runner pool above already bounds and queues work per model.
//
// Request bodies and header values (the Authorization header carries an API key) are never
// logged, and never copied into a status message.
//
// Thread-safe. Handlers run on the client's thread, never inline in Start, and must not block.
// The client must outlive every call to Cancel; its destructor completes every transfer still
// running with CANCELLED before it returns.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace spine::llm {

struct HttpClientOptions {
  int max_transfers = 256;                            // running at once; more are refused
  absl::Duration connect_timeout = absl::Seconds(5);  // per connection attempt
  int max_idle_connections = 64;                      // kept open for reuse
};

struct HttpRequest {
  std::string url{};  // http:// or https:// only
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};                            // sent as a POST
  absl::Time deadline = absl::InfiniteFuture();  // the whole transfer must end by then
};

// Receives one response. Owned by the client from Start until OnComplete has returned.
class HttpResponseHandler {
 public:
  virtual ~HttpResponseHandler() = default;
  // Each piece of the body, in order, with the response's HTTP status. Returning an error
  // aborts the transfer; that error is then what OnComplete receives.
  virtual absl::Status OnData(int http_status, absl::string_view chunk) = 0;
  // Exactly once, last. OK when the whole body arrived, whatever the HTTP status (0 when no
  // response came); otherwise UNAVAILABLE (refused, unreachable, dropped, too many transfers),
  // DEADLINE_EXCEEDED (the request's deadline passed), CANCELLED (Cancel or shutdown), or the
  // error OnData returned.
  virtual void OnComplete(absl::Status status, int http_status) = 0;
};

class HttpClient {
 public:
  using TransferId = uint64_t;

  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(const HttpClientOptions& options);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Queues a POST of `request`; the handler hears about it on the client's thread. The id
  // names the transfer for Cancel.
  TransferId Start(HttpRequest request, std::unique_ptr<HttpResponseHandler> handler);

  // Aborts the transfer; its handler then gets CANCELLED within milliseconds, unless it already
  // completed. Safe to call more than once and after completion.
  void Cancel(TransferId id);

 private:
  struct Transfer;
  struct PendingStart {
    TransferId id;
    HttpRequest request;
    std::unique_ptr<HttpResponseHandler> handler;
  };

  HttpClient(const HttpClientOptions& options, void* multi);
  void Run();
  void StartTransfers(std::deque<PendingStart> starts);
  void CancelTransfers(const std::vector<TransferId>& ids);
  void FinishDoneTransfers();
  void Complete(TransferId id, absl::Status status);

  const HttpClientOptions options_;
  void* const multi_;  // CURLM*, kept out of this header so callers need no curl headers

  absl::Mutex mu_;
  TransferId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<PendingStart> starts_ ABSL_GUARDED_BY(mu_);
  std::vector<TransferId> cancels_ ABSL_GUARDED_BY(mu_);

  // Only the client's thread touches the running transfers.
  absl::flat_hash_map<TransferId, std::unique_ptr<Transfer>> running_;

  std::thread thread_;
};

}  // namespace spine::llm
