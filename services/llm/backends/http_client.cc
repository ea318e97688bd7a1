#include "services/llm/backends/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <climits>
#include <cstddef>
#include <utility>

#include "absl/strings/str_cat.h"

namespace spine::llm {
namespace {

CURLM* Multi(void* multi) { return static_cast<CURLM*>(multi); }

// Curl's global state is set up once per process; curl_global_init is thread-safe since 7.84.
bool InitCurlOnce() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

// The URL for a status message: without user info or query, where credentials could hide.
std::string UrlForMessages(absl::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const size_t scheme_end = url.find("://");
  if (scheme_end == absl::string_view::npos) return std::string(url);
  const size_t authority = scheme_end + 3;
  const size_t path = url.find('/', authority);
  const size_t at = url.substr(0, path).rfind('@');
  if (at == absl::string_view::npos || at < authority) return std::string(url);
  return absl::StrCat(url.substr(0, authority), url.substr(at + 1));
}

// Milliseconds left until `deadline`, rounded up, at least 1 (curl reads 0 as "no limit").
long MillisUntil(absl::Time deadline, absl::Time now) {
  const absl::Duration left = deadline - now;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return static_cast<long>(std::clamp<int64_t>(ms, 1, LONG_MAX));
}

}  // namespace

struct HttpClient::Transfer {
  TransferId id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string body;  // curl reads the POST body from here while the transfer runs
  std::string url_for_messages;
  std::unique_ptr<HttpResponseHandler> handler;
  absl::Status handler_error;  // what OnData returned when it aborted the transfer
  absl::Time deadline = absl::InfiniteFuture();
  char error[CURL_ERROR_SIZE] = {};

  Transfer() = default;
  Transfer(const Transfer&) = delete;
  Transfer& operator=(const Transfer&) = delete;
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
  }

  int ResponseCode() const {
    long code = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    return static_cast<int>(code);
  }

  static size_t Write(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t bytes = size * count;
    absl::Status status =
        transfer->handler->OnData(transfer->ResponseCode(), absl::string_view(data, bytes));
    if (!status.ok()) {
      transfer->handler_error = std::move(status);
      return 0;  // anything but `bytes` makes curl end the transfer with CURLE_WRITE_ERROR
    }
    return bytes;
  }

  absl::Status StatusOf(CURLcode code) const {
    if (code == CURLE_OK) return absl::OkStatus();
    if (code == CURLE_WRITE_ERROR && !handler_error.ok()) return handler_error;
    const std::string detail = absl::StrCat("POST ", url_for_messages, ": ",
                                            error[0] != '\0' ? error : curl_easy_strerror(code));
    switch (code) {
      case CURLE_OPERATION_TIMEDOUT:
        // Either the request's deadline (the total timeout) or the shorter connect timeout.
        if (absl::Now() + absl::Milliseconds(20) >= deadline) {
          return absl::DeadlineExceededError(detail);
        }
        return absl::UnavailableError(detail);
      case CURLE_URL_MALFORMAT:
      case CURLE_UNSUPPORTED_PROTOCOL:
        return absl::InvalidArgumentError(detail);
      default:
        // Refused, unresolvable, reset, closed mid-body, TLS failures: the server is not there
        // for us right now.
        return absl::UnavailableError(detail);
    }
  }
};

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpClientOptions& options) {
  if (options.max_transfers < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("http client: max_transfers is ", options.max_transfers, ", at least 1"));
  }
  if (!InitCurlOnce()) return absl::InternalError("http client: curl_global_init did not succeed");
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("http client: curl_multi_init returned null");
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_idle_connections));
  return std::unique_ptr<HttpClient>(new HttpClient(options, multi));
}

HttpClient::HttpClient(const HttpClientOptions& options, void* multi)
    : options_(options), multi_(multi), thread_([this] { Run(); }) {}

HttpClient::~HttpClient() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(Multi(multi_));
  thread_.join();
  curl_multi_cleanup(Multi(multi_));
}

HttpClient::TransferId HttpClient::Start(HttpRequest request,
                                         std::unique_ptr<HttpResponseHandler> handler) {
  TransferId id = 0;
  {
    absl::MutexLock lock(&mu_);
    id = next_id_++;
    starts_.push_back(PendingStart{id, std::move(request), std::move(handler)});
  }
  curl_multi_wakeup(Multi(multi_));
  return id;
}

void HttpClient::Cancel(TransferId id) {
  {
    absl::MutexLock lock(&mu_);
    cancels_.push_back(id);
  }
  curl_multi_wakeup(Multi(multi_));
}

void HttpClient::Run() {
  for (;;) {
    std::deque<PendingStart> starts;
    std::vector<TransferId> cancels;
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      starts.swap(starts_);
      cancels.swap(cancels_);
      stopping = stopping_;
    }
    if (stopping) break;
    // Starts first, so that a Cancel queued right after its Start finds the transfer.
    StartTransfers(std::move(starts));
    CancelTransfers(cancels);
    int still_running = 0;
    curl_multi_perform(Multi(multi_), &still_running);
    FinishDoneTransfers();
    // Returns on socket activity, on curl's next timer (timeouts) or on curl_multi_wakeup.
    curl_multi_poll(Multi(multi_), nullptr, 0, 1000, nullptr);
  }
  // Shutting down: everything still running or queued ends as CANCELLED. Handlers may Start
  // more while being told, so drain until nothing is left.
  std::vector<TransferId> running;
  running.reserve(running_.size());
  for (const auto& [id, transfer] : running_) running.push_back(id);
  for (const TransferId id : running) {
    Complete(id, absl::CancelledError("http client: shutting down"));
  }
  for (;;) {
    std::deque<PendingStart> starts;
    {
      absl::MutexLock lock(&mu_);
      starts.swap(starts_);
    }
    if (starts.empty()) break;
    for (PendingStart& start : starts) {
      start.handler->OnComplete(absl::CancelledError("http client: shutting down"), 0);
    }
  }
}

void HttpClient::StartTransfers(std::deque<PendingStart> starts) {
  const absl::Time now = absl::Now();
  for (PendingStart& start : starts) {
    if (running_.size() >= static_cast<size_t>(options_.max_transfers)) {
      start.handler->OnComplete(absl::UnavailableError(absl::StrCat(
                                    "http client: ", running_.size(),
                                    " transfers running, at most ", options_.max_transfers)),
                                0);
      continue;
    }
    auto transfer = std::make_unique<Transfer>();
    transfer->id = start.id;
    transfer->body = std::move(start.request.body);
    transfer->url_for_messages = UrlForMessages(start.request.url);
    transfer->handler = std::move(start.handler);
    transfer->deadline = start.request.deadline;
    if (now >= transfer->deadline) {
      transfer->handler->OnComplete(
          absl::DeadlineExceededError(
              absl::StrCat("POST ", transfer->url_for_messages, ": deadline passed before start")),
          0);
      continue;
    }
    transfer->easy = curl_easy_init();
    if (transfer->easy == nullptr) {
      transfer->handler->OnComplete(absl::UnavailableError("http client: curl_easy_init failed"),
                                    0);
      continue;
    }
    for (const auto& [name, value] : start.request.headers) {
      transfer->headers =
          curl_slist_append(transfer->headers, absl::StrCat(name, ": ", value).c_str());
    }
    // No "Expect: 100-continue" round trip before larger bodies.
    transfer->headers = curl_slist_append(transfer->headers, "Expect:");

    CURL* easy = transfer->easy;
    curl_easy_setopt(easy, CURLOPT_URL, start.request.url.c_str());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, transfer->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(transfer->body.size()));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, transfer->headers);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::Write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, transfer.get());
    curl_easy_setopt(easy, CURLOPT_PRIVATE, transfer.get());
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, transfer->error);
    curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
    const absl::Time connect_by = std::min(now + options_.connect_timeout, transfer->deadline);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, MillisUntil(connect_by, now));
    if (transfer->deadline != absl::InfiniteFuture()) {
      curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, MillisUntil(transfer->deadline, now));
    }
    if (curl_multi_add_handle(Multi(multi_), easy) != CURLM_OK) {
      transfer->handler->OnComplete(
          absl::UnavailableError("http client: curl_multi_add_handle failed"), 0);
      continue;
    }
    const TransferId id = transfer->id;
    running_.emplace(id, std::move(transfer));
  }
}

void HttpClient::CancelTransfers(const std::vector<TransferId>& ids) {
  for (const TransferId id : ids) {
    // Unknown ids finished already (or were refused): nothing to do.
    if (running_.contains(id)) Complete(id, absl::CancelledError("cancelled"));
  }
}

void HttpClient::FinishDoneTransfers() {
  int queued = 0;
  while (CURLMsg* message = curl_multi_info_read(Multi(multi_), &queued)) {
    if (message->msg != CURLMSG_DONE) continue;
    void* user = nullptr;
    curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, &user);
    const auto* transfer = static_cast<const Transfer*>(user);
    Complete(transfer->id, transfer->StatusOf(message->data.result));
  }
}

void HttpClient::Complete(TransferId id, absl::Status status) {
  auto it = running_.find(id);
  if (it == running_.end()) return;
  std::unique_ptr<Transfer> transfer = std::move(it->second);
  running_.erase(it);
  // After this curl calls nothing of the transfer's any more, and its connection goes back to
  // the pool when the response was complete.
  curl_multi_remove_handle(Multi(multi_), transfer->easy);
  transfer->handler->OnComplete(std::move(status), transfer->ResponseCode());
}

}  // namespace spine::llm
