#include "services/gateway/http/http_server.h"

#include <array>
#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "libs/core/log.h"
#include "libs/rpc/request_id.h"
#include "services/gateway/http/beast_request.h"
#include "services/gateway/http/error_response.h"

namespace spine::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Session;

// What the listener and every connection share. Sessions hold it by shared_ptr, so a reply
// that arrives after Stop() (a slow upstream answering late) still finds a live, stopped
// io_context to post to instead of freed memory.
struct Shared {
  HttpServerOptions options;
  HttpHandler* handler = nullptr;
  std::atomic<int64_t> connections{0};
  std::atomic<int64_t> in_flight{0};  // requests read and not yet fully answered
  net::io_context io{};

  absl::Mutex mu;
  // Open connections per client key (HttpServerOptions::per_ip_key); keys at zero are erased.
  absl::flat_hash_map<std::string, int64_t> per_ip ABSL_GUARDED_BY(mu);
  // Connections waiting for a request, by when they started waiting (oldest first): the ones
  // displaced when the server is full.
  std::map<uint64_t, std::weak_ptr<Session>> idle ABSL_GUARDED_BY(mu);
  uint64_t idle_sequence ABSL_GUARDED_BY(mu) = 0;
};

// Bytes read and thrown away from a client whose request is refused (413 and friends), so
// closing with unread data does not make the kernel reset the connection before the client
// reads the answer.
constexpr size_t kMaxDrainBytes = 1 << 20;
constexpr auto kDrainTime = std::chrono::seconds(1);
// A streamed body may run this far ahead of a slow client; beyond, the producer is refused.
constexpr size_t kMaxQueuedStreamBytes = size_t{1} << 20;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<Shared> shared, tcp::socket&& socket)
      : shared_(std::move(shared)), stream_(std::move(socket)) {
    ++shared_->connections;
    if (shared_->options.on_connection_open) shared_->options.on_connection_open();
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ip_ = endpoint.address().to_string();
  }
  ~Session() {
    {
      absl::MutexLock lock(&shared_->mu);
      if (idle_since_ != 0) shared_->idle.erase(idle_since_);
      if (counted_under_) {
        auto it = shared_->per_ip.find(*counted_under_);
        if (it != shared_->per_ip.end() && --it->second <= 0) shared_->per_ip.erase(it);
      }
    }
    --shared_->connections;
    if (shared_->options.on_connection_close) shared_->options.on_connection_close();
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Counts this connection under its client's key. False (and not counted) when that client
  // already holds `max_connections_per_ip`; true for an uncapped peer. Call once, before Start.
  bool AdmitPerClient() {
    const HttpServerOptions& opts = options();
    if (opts.max_connections_per_ip <= 0) return true;
    std::string key = opts.per_ip_key ? opts.per_ip_key(peer_ip_) : peer_ip_;
    if (key.empty() && !opts.per_ip_key) key = "unknown";  // no peer address: one shared key
    if (key.empty()) return true;
    absl::MutexLock lock(&shared_->mu);
    int64_t& open = shared_->per_ip[key];
    if (open >= opts.max_connections_per_ip) return false;
    ++open;
    counted_under_ = std::move(key);
    return true;
  }

  // Answers 503 and closes: used when the connection limit is reached.
  void RejectBusy() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->Fail(MakeErrorResponse(503, absl::StatusCode::kUnavailable,
                                   "too many connections, retry later", "TOO_MANY_CONNECTIONS"));
    });
  }

  // Answers 503 and closes at once, without the drain: the client already holds its share of
  // connections, and this one must not stay open (and counted) any longer than the write.
  void RejectPerClient() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->Fail(MakeErrorResponse(
          503, absl::StatusCode::kUnavailable,
          absl::StrCat("too many connections from your address (at most ",
                       self->options().max_connections_per_ip, "); reuse one or retry later"),
          "TOO_MANY_CONNECTIONS"));
      self->drain_before_close_ = false;
    });
  }

  // Closes the connection if it is still waiting for a request (it may have received one
  // meanwhile; then it is left alone). From any thread.
  void Displace() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if (self->waiting_for_request_) self->Close();
    });
  }

 private:
  const HttpServerOptions& options() const { return shared_->options; }

  // Listed as idle while waiting for a request, so a full server may displace it.
  void MarkIdle() {
    waiting_for_request_ = true;
    absl::MutexLock lock(&shared_->mu);
    idle_since_ = ++shared_->idle_sequence;
    shared_->idle.emplace(idle_since_, weak_from_this());
  }

  void MarkBusy() {
    waiting_for_request_ = false;
    absl::MutexLock lock(&shared_->mu);
    if (idle_since_ != 0) shared_->idle.erase(idle_since_);
    idle_since_ = 0;
  }

  void ReadHeader() {
    MarkIdle();
    is_head_ = false;
    method_.clear();
    path_.clear();
    request_id_.clear();
    parser_.emplace();
    ApplyRequestLimits(options(), *parser_);
    // One timer covers the wait for and the whole of the header: a trickling client is dropped.
    stream_.expires_after(absl::ToChronoMilliseconds(options().read_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    MarkBusy();
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    method_ = std::string(header.method_string());
    const std::string target(header.target());
    path_ = target.substr(0, target.find('?'));
    request_id_ = ClientRequestId(header);
    if (parser_->content_length() &&
        *parser_->content_length() > static_cast<uint64_t>(options().max_body_bytes)) {
      return Fail(BodyTooLarge());
    }
    stream_.expires_after(absl::ToChronoMilliseconds(options().read_timeout));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  HttpResponse BodyTooLarge() const {
    return MakeErrorResponse(413, absl::StatusCode::kInvalidArgument,
                             absl::StrCat("request body over ", options().max_body_bytes, " bytes"),
                             "BODY_TOO_LARGE");
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Fail(MakeErrorResponse(431, absl::StatusCode::kInvalidArgument,
                                    "request headers too large", "HEADERS_TOO_LARGE"));
    }
    if (ec == http::error::body_limit) return Fail(BodyTooLarge());
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::eof ||
        ec == net::error::connection_reset || ec == net::error::operation_aborted) {
      return Close();
    }
    Fail(MakeErrorResponse(400, absl::StatusCode::kInvalidArgument, "malformed HTTP request",
                           "BAD_HTTP"));
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    stream_.expires_never();  // the handler may take its time; its own deadlines bound it
    http::request<http::string_body> message = parser_->release();
    keep_alive_ = message.keep_alive();
    is_head_ = message.method() == http::verb::head;
    if (request_id_.empty()) request_id_ = rpc::NewRequestId();
    started_ = absl::Now();

    HttpRequest request = ToHttpRequest(std::move(message));
    request.peer_ip = peer_ip_;
    request.request_id = request_id_;

    ++shared_->in_flight;
    answering_ = true;
    auto self = shared_from_this();
    shared_->handler->Handle(std::move(request), [self](HttpResponse response) {
      net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->Write(std::move(response));
      });
    });
  }

  // Answers an error the connection cannot recover from, then closes.
  void Fail(HttpResponse response) {
    keep_alive_ = false;
    drain_before_close_ = true;
    if (request_id_.empty()) request_id_ = rpc::NewRequestId();
    started_ = absl::Now();
    Write(std::move(response));
  }

  void Write(HttpResponse response) {
    if (response.stream) return WriteStreamHead(std::move(response));
    auto message = std::make_shared<http::response<http::string_body>>();
    message->version(11);
    message->result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) message->insert(name, value);
    message->set("X-Request-Id", request_id_);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_);
    message->prepare_payload();
    // HEAD: the same headers (Content-Length included) as GET, and no body.
    if (is_head_) message->body().clear();
    log::Fields fields = {
        {"method", method_},
        {"path", path_},
        {"status", std::to_string(response.status)},
        {"duration_ms", std::to_string(absl::ToInt64Milliseconds(absl::Now() - started_))},
        {"bytes", std::to_string(message->body().size())},
        {"peer", peer_ip_},
        {"request_id", request_id_}};
    fields.insert(fields.end(), response.access_log.begin(), response.access_log.end());
    log::Info("http", fields);
    stream_.expires_after(absl::ToChronoMilliseconds(options().read_timeout));
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code ec, size_t) {
                        self->OnWritten(ec);
                      });
  }

  // A streamed body (server-sent events): the head with chunked encoding, then each chunk the
  // producer writes, in order; the connection closes after the last one (a stream is the last
  // answer on its connection). Meanwhile a read stays pending, so a client that leaves is
  // noticed at once, not at the next write, and the producer is told.
  class ChunkWriter final : public HttpBodyWriter {
   public:
    explicit ChunkWriter(std::shared_ptr<Session> session) : session_(std::move(session)) {}
    bool Write(std::string chunk) override {
      if (session_->stream_gone_.load() ||
          session_->stream_queued_bytes_.load() + chunk.size() > kMaxQueuedStreamBytes) {
        return false;
      }
      session_->stream_queued_bytes_ += chunk.size();
      net::post(session_->stream_.get_executor(),
                [session = session_, chunk = std::move(chunk)]() mutable {
                  session->QueueChunk(std::move(chunk));
                });
      return true;
    }
    void Finish() override {
      net::post(session_->stream_.get_executor(), [session = session_] {
        session->stream_finishing_ = true;
        if (!session->stream_writing_) session->WriteNextChunk();
      });
    }
    void Abort() override {
      net::post(session_->stream_.get_executor(),
                [session = session_] { session->EndStream(/*client_gone=*/false); });
    }
    void WhenDrained(std::function<void()> ready) override {
      net::post(session_->stream_.get_executor(),
                [session = session_, ready = std::move(ready)]() mutable {
                  if (session->stream_ended_) return;
                  if (session->stream_chunks_.empty() && !session->stream_writing_) return ready();
                  session->stream_drained_.push_back(std::move(ready));
                });
    }

   private:
    std::shared_ptr<Session> session_;
  };

  void WriteStreamHead(HttpResponse response) {
    keep_alive_ = false;
    on_client_gone_ = std::move(response.on_client_gone);
    auto head = std::make_shared<http::response<http::empty_body>>();
    head->version(11);
    head->result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) head->insert(name, value);
    head->set("X-Request-Id", request_id_);
    head->keep_alive(false);
    head->chunked(true);
    log::Fields fields = {
        {"method", method_},
        {"path", path_},
        {"status", std::to_string(response.status)},
        {"duration_ms", std::to_string(absl::ToInt64Milliseconds(absl::Now() - started_))},
        {"peer", peer_ip_},
        {"request_id", request_id_},
        {"stream", "open"}};
    fields.insert(fields.end(), response.access_log.begin(), response.access_log.end());
    log::Info("http", fields);
    auto serializer = std::make_shared<http::response_serializer<http::empty_body>>(*head);
    stream_.expires_after(absl::ToChronoMilliseconds(options().read_timeout));
    http::async_write_header(stream_, *serializer,
                             [self = shared_from_this(), head, serializer,
                              producer = std::move(response.stream)](beast::error_code ec, size_t) {
                               if (ec) return self->EndStream(/*client_gone=*/true);
                               self->stream_.expires_never();
                               self->WatchForClose();
                               producer(std::make_shared<ChunkWriter>(self));
                             });
  }

  void QueueChunk(std::string chunk) {
    if (stream_gone_) return;
    stream_chunks_.push_back(std::move(chunk));
    if (!stream_writing_) WriteNextChunk();
  }

  void WriteNextChunk() {
    if (stream_gone_) return;
    if (stream_chunks_.empty()) {
      // Everything written so far is out: whoever waits for that goes on (and may write more).
      std::vector<std::function<void()>> drained;
      drained.swap(stream_drained_);
      for (std::function<void()>& ready : drained) ready();
      if (!stream_finishing_) return;
      stream_writing_ = true;
      stream_.expires_after(absl::ToChronoMilliseconds(options().read_timeout));
      net::async_write(stream_, http::make_chunk_last(),
                       [self = shared_from_this()](beast::error_code ec, size_t) {
                         self->EndStream(/*client_gone=*/static_cast<bool>(ec));
                       });
      return;
    }
    auto chunk = std::make_shared<std::string>(std::move(stream_chunks_.front()));
    stream_chunks_.pop_front();
    stream_writing_ = true;
    // A client that stops reading is dropped after the read timeout, like one that trickles.
    stream_.expires_after(absl::ToChronoMilliseconds(options().read_timeout));
    net::async_write(stream_, http::make_chunk(net::buffer(*chunk)),
                     [self = shared_from_this(), chunk](beast::error_code ec, size_t) {
                       self->stream_queued_bytes_ -= chunk->size();
                       self->stream_writing_ = false;
                       if (ec) return self->EndStream(/*client_gone=*/true);
                       self->stream_.expires_never();
                       self->WriteNextChunk();
                     });
  }

  // Any completion of this read ends the stream: EOF or an error means the client left, and a
  // client has nothing to send while it is being streamed to.
  void WatchForClose() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code, size_t) {
                              if (!self->stream_ended_) self->EndStream(/*client_gone=*/true);
                            });
  }

  void EndStream(bool client_gone) {
    if (stream_ended_) return;
    stream_ended_ = true;
    if (client_gone) {
      stream_gone_ = true;
      if (on_client_gone_) on_client_gone_();
    }
    on_client_gone_ = nullptr;
    stream_chunks_.clear();
    stream_drained_.clear();
    if (answering_) {
      answering_ = false;
      --shared_->in_flight;
    }
    Close();
  }

  void OnWritten(beast::error_code ec) {
    if (answering_) {
      answering_ = false;
      --shared_->in_flight;
    }
    if (ec) return Close();
    if (!keep_alive_) return drain_before_close_ ? DrainThenClose() : Close();
    ReadHeader();
  }

  void DrainThenClose() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.expires_after(kDrainTime);
    DrainSome();
  }

  void DrainSome() {
    stream_.async_read_some(net::buffer(scratch_),
                            [self = shared_from_this()](beast::error_code ec, size_t bytes) {
                              self->drained_ += bytes;
                              if (ec || self->drained_ >= kMaxDrainBytes) return self->Close();
                              self->DrainSome();
                            });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  std::shared_ptr<Shared> shared_;  // first: outlives the stream that runs on its io_context
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<BeastRequestParser> parser_;
  std::string peer_ip_;
  std::optional<std::string> counted_under_;  // the per-client key this connection counts under
  bool waiting_for_request_ = false;          // on the connection's strand only
  uint64_t idle_since_ = 0;                   // key in shared_->idle; 0 when not listed; mu
  std::string method_;
  std::string path_;
  std::string request_id_;
  absl::Time started_;
  bool keep_alive_ = true;
  bool is_head_ = false;
  bool answering_ = false;
  bool drain_before_close_ = false;
  size_t drained_ = 0;
  std::array<char, 16 << 10> scratch_{};
  // Streaming state; touched on the connection's strand only, except the two atomics that
  // ChunkWriter reads from the producer's threads.
  std::function<void()> on_client_gone_;
  std::deque<std::string> stream_chunks_;
  std::vector<std::function<void()>> stream_drained_;  // WhenDrained callbacks waiting
  bool stream_writing_ = false;
  bool stream_finishing_ = false;
  bool stream_ended_ = false;
  std::atomic<bool> stream_gone_{false};
  std::atomic<size_t> stream_queued_bytes_{0};
};

}  // namespace

struct HttpServer::Impl {
  // Closes the connection that has waited longest for a request, making room for a new one.
  // False when every connection is answering a request.
  bool DisplaceOldestIdle() {
    std::shared_ptr<Session> oldest;
    {
      absl::MutexLock lock(&shared->mu);
      while (!oldest && !shared->idle.empty()) {
        oldest = shared->idle.begin()->second.lock();
        shared->idle.erase(shared->idle.begin());
      }
    }
    if (!oldest) return false;
    oldest->Displace();
    return true;
  }

  std::shared_ptr<Shared> shared = std::make_shared<Shared>();
  std::optional<tcp::acceptor> acceptor;
  std::optional<net::steady_timer> accept_backoff;
  std::vector<std::thread> threads;
  std::atomic<bool> stopped{false};
  int port = 0;

  void Accept() {
    acceptor->async_accept(
        net::make_strand(shared->io), [this](beast::error_code ec, tcp::socket socket) {
          if (ec == net::error::operation_aborted) return;
          if (ec) {
            // Out of file descriptors and the like: wait a little rather than spin on the error.
            log::Warn("http accept failed", {{"error", ec.message()}});
            accept_backoff->expires_after(std::chrono::milliseconds(100));
            accept_backoff->async_wait([this](beast::error_code wait_ec) {
              if (!wait_ec) Accept();
            });
            return;
          }
          const bool over_limit = shared->connections.load() >= shared->options.max_connections;
          auto session = std::make_shared<Session>(shared, std::move(socket));
          if (!session->AdmitPerClient()) {
            session->RejectPerClient();
          } else if (over_limit && !DisplaceOldestIdle()) {
            session->RejectBusy();
          } else {
            session->Start();
          }
          Accept();
        });
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              HttpHandler& handler) {
  const size_t colon = options.address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(options.address.substr(colon + 1), &port)) {
    return absl::InvalidArgumentError(absl::StrCat("bad HTTP address ", options.address));
  }
  std::string host = options.address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  beast::error_code ec;
  const net::ip::address ip = net::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("HTTP listen host '", host, "' is not an IP address"));
  }

  auto impl = std::make_unique<Impl>();
  impl->shared->options = options;
  impl->shared->handler = &handler;
  impl->acceptor.emplace(impl->shared->io);
  impl->accept_backoff.emplace(impl->shared->io);
  const tcp::endpoint endpoint(ip, static_cast<uint16_t>(port));
  impl->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(endpoint, ec);
  if (!ec) impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address, ": ", ec.message()));
  }

  impl->port = impl->acceptor->local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < options.threads; ++i) {
    impl->threads.emplace_back([io = &impl->shared->io] { io->run(); });
  }
  log::Info("http server listening",
            {{"address", options.address}, {"port", std::to_string(impl->port)}});
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop(absl::Duration grace) {
  if (impl_->stopped.exchange(true)) return;
  net::post(impl_->shared->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor->close(ec);
    impl->accept_backoff->cancel();
  });
  // Requests already being answered get up to `grace` to finish; idle keep-alive connections
  // are simply closed when the io_context stops.
  const absl::Time deadline = absl::Now() + grace;
  while (impl_->shared->in_flight.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  impl_->shared->io.stop();
  for (std::thread& thread : impl_->threads) thread.join();
}

HttpServer::~HttpServer() { Stop(absl::ZeroDuration()); }

}  // namespace spine::gateway
