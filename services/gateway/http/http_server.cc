#include "services/gateway/http/http_server.h"

#include <atomic>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "boost/asio.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "libs/core/log.h"
#include "libs/rpc/request_id.h"
#include "services/gateway/http/error_response.h"

namespace spine::gateway {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const HttpServerOptions& options, HttpHandler& handler,
          std::atomic<int64_t>& active)
      : stream_(std::move(socket)), options_(options), handler_(handler), active_(active) {
    ++active_;
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) peer_ip_ = endpoint.address().to_string();
  }
  ~Session() { --active_; }

  void Start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->ReadHeader(); });
  }

  // Answers 503 and closes: used when the connection limit is reached.
  void RejectBusy() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->keep_alive_ = false;
      self->is_head_ = false;
      self->Write(MakeErrorResponse(503, absl::StatusCode::kUnavailable,
                                    "too many connections, retry later", "TOO_MANY_CONNECTIONS"),
                  rpc::NewRequestId());
    });
  }

 private:
  void ReadHeader() {
    is_head_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options_.max_header_bytes));
    parser_->body_limit(static_cast<uint64_t>(options_.max_body_bytes));
    // One timer covers the wait for and the whole of the header: a trickling client is dropped.
    stream_.expires_after(absl::ToChronoMilliseconds(options_.read_timeout));
    http::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& header = parser_->get();
    if (header.has_content_length() &&
        *parser_->content_length() > static_cast<uint64_t>(options_.max_body_bytes)) {
      return Fail(MakeErrorResponse(
          413, absl::StatusCode::kInvalidArgument,
          absl::StrCat("request body over ", options_.max_body_bytes, " bytes"), "BODY_TOO_LARGE"));
    }
    stream_.expires_after(absl::ToChronoMilliseconds(options_.read_timeout));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnReadError(beast::error_code ec) {
    if (ec == http::error::header_limit) {
      return Fail(MakeErrorResponse(431, absl::StatusCode::kInvalidArgument,
                                    "request headers too large", "HEADERS_TOO_LARGE"));
    }
    if (ec == http::error::body_limit) {
      return Fail(MakeErrorResponse(
          413, absl::StatusCode::kInvalidArgument,
          absl::StrCat("request body over ", options_.max_body_bytes, " bytes"), "BODY_TOO_LARGE"));
    }
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

    HttpRequest request;
    request.method = std::string(message.method_string());
    const std::string target(message.target());
    const size_t question = target.find('?');
    request.path = target.substr(0, question);
    if (question != std::string::npos) request.query = target.substr(question + 1);
    for (const auto& field : message) {
      request.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    request.peer_ip = peer_ip_;
    const std::optional<std::string> client_id = request.Header("X-Request-Id");
    request.request_id =
        client_id && rpc::IsValidRequestId(*client_id) ? *client_id : rpc::NewRequestId();

    const std::string request_id = request.request_id;
    auto self = shared_from_this();
    handler_.Handle(std::move(request), [self, request_id](HttpResponse response) {
      net::post(self->stream_.get_executor(),
                [self, request_id, response = std::move(response)]() mutable {
                  self->Write(std::move(response), request_id);
                });
    });
  }

  // Answers an error the connection cannot recover from, then closes.
  void Fail(HttpResponse response) {
    keep_alive_ = false;
    Write(std::move(response), rpc::NewRequestId());
  }

  void Write(HttpResponse response, const std::string& request_id) {
    auto message = std::make_shared<http::response<http::string_body>>();
    message->version(11);
    message->result(static_cast<unsigned>(response.status));
    for (auto& [name, value] : response.headers) message->insert(name, value);
    message->set("X-Request-Id", request_id);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_);
    message->prepare_payload();
    // HEAD: the same headers (Content-Length included) as GET, and no body.
    if (is_head_) message->body().clear();
    stream_.expires_after(absl::ToChronoMilliseconds(options_.read_timeout));
    http::async_write(stream_, *message,
                      [self = shared_from_this(), message](beast::error_code ec, size_t) {
                        if (ec || !self->keep_alive_) return self->Close();
                        self->ReadHeader();
                      });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServerOptions& options_;
  HttpHandler& handler_;
  std::atomic<int64_t>& active_;
  std::string peer_ip_;
  bool keep_alive_ = true;
  bool is_head_ = false;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler* handler = nullptr;
  net::io_context io{};
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  std::atomic<int64_t> active{0};
  std::atomic<bool> stopped{false};
  int port = 0;

  void Accept() {
    acceptor->async_accept(net::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (ec == net::error::operation_aborted) return;
        log::Warn("http accept failed", {{"error", ec.message()}});
      } else {
        const bool over_limit = active.load() >= options.max_connections;
        auto session = std::make_shared<Session>(std::move(socket), options, *handler, active);
        if (over_limit) {
          session->RejectBusy();
        } else {
          session->Start();
        }
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
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  beast::error_code ec;
  const net::ip::address ip = net::ip::make_address(host, ec);
  if (ec)
    return absl::InvalidArgumentError(
        absl::StrCat("bad HTTP listen host '", host, "': ", ec.message()));

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = &handler;
  impl->acceptor.emplace(impl->io);
  const tcp::endpoint endpoint(ip, static_cast<uint16_t>(port));
  impl->acceptor->open(endpoint.protocol(), ec);
  if (!ec) impl->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor->bind(endpoint, ec);
  if (!ec) impl->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.address, ": ", ec.message()));

  impl->port = impl->acceptor->local_endpoint().port();
  impl->Accept();
  for (int i = 0; i < options.threads; ++i) {
    impl->threads.emplace_back([io = &impl->io] { io->run(); });
  }
  log::Info("http server listening",
            {{"address", options.address}, {"port", std::to_string(impl->port)}});
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

int HttpServer::port() const { return impl_->port; }

void HttpServer::Stop() {
  if (impl_->stopped.exchange(true)) return;
  net::post(impl_->io, [impl = impl_.get()] {
    beast::error_code ec;
    impl->acceptor->close(ec);
  });
  impl_->io.stop();
  for (std::thread& thread : impl_->threads) thread.join();
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace spine::gateway
