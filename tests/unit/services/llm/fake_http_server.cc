#include "tests/unit/services/llm/fake_http_server.h"

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace spine::llm::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Tcp = asio::ip::tcp;

std::string ReasonPhrase(int status) {
  return std::string(http::obsolete_reason(static_cast<http::status>(status)));
}

}  // namespace

// Everything below runs on the server's thread.
struct FakeHttpServer::Impl {
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(Impl& impl, Tcp::socket socket)
        : impl_(impl), socket_(std::move(socket)), timer_(socket_.get_executor()) {}

    void Read() {
      parser_.emplace();
      parser_->body_limit(std::uint64_t{16} * 1024 * 1024);
      http::async_read(socket_, buffer_, *parser_,
                       [self = shared_from_this()](beast::error_code error, size_t) {
                         if (!error) self->Respond();
                       });
    }

   private:
    void Respond() {
      const http::request<http::string_body>& message = parser_->get();
      ReceivedRequest request;
      request.method = std::string(message.method_string());
      request.target = std::string(message.target());
      for (const auto& field : message) {
        request.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
            std::string(field.value());
      }
      request.body = message.body();
      impl_.server.Record(request);
      response_ = impl_.server.respond_(request);

      std::string head =
          absl::StrCat("HTTP/1.1 ", response_.status, " ", ReasonPhrase(response_.status),
                       "\r\nContent-Type: ", response_.content_type, "\r\n");
      if (response_.chunked) {
        absl::StrAppend(&head, "Transfer-Encoding: chunked\r\n\r\n");
      } else {
        std::string body;
        for (const std::string& chunk : response_.chunks) body += chunk;
        absl::StrAppend(&head, "Content-Length: ", body.size(), "\r\n\r\n", body);
      }
      Write(std::move(head), [this] {
        if (response_.chunked) {
          WriteChunk(0);
        } else {
          Read();
        }
      });
    }

    void WriteChunk(size_t index) {
      if (index == response_.chunks.size()) {
        End();
        return;
      }
      auto write = [this, index] {
        const std::string& data = response_.chunks[index];
        Write(absl::StrCat(absl::Hex(data.size()), "\r\n", data, "\r\n"),
              [this, index] { WriteChunk(index + 1); });
      };
      if (index == 0 || response_.pause <= absl::ZeroDuration()) {
        write();
        return;
      }
      timer_.expires_after(absl::ToChronoMilliseconds(response_.pause));
      timer_.async_wait([self = shared_from_this(), write](beast::error_code error) {
        if (!error) write();
      });
    }

    void End() {
      switch (response_.end) {
        case FakeResponse::End::kComplete:
          Write("0\r\n\r\n", [this] { Read(); });
          return;
        case FakeResponse::End::kStall:
          impl_.stalled.push_back(shared_from_this());
          return;
        case FakeResponse::End::kDrop: {
          beast::error_code ignored;
          socket_.shutdown(Tcp::socket::shutdown_both, ignored);
          socket_.close(ignored);
          return;
        }
      }
    }

    template <typename Next>
    void Write(std::string data, Next next) {
      auto buffer = std::make_shared<std::string>(std::move(data));
      asio::async_write(socket_, asio::buffer(*buffer),
                        [self = shared_from_this(), buffer, next](beast::error_code error, size_t) {
                          if (!error) next();
                        });
    }

    Impl& impl_;
    Tcp::socket socket_;
    asio::steady_timer timer_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    FakeResponse response_;
  };

  explicit Impl(FakeHttpServer& server_in)
      : server(server_in), acceptor(io, Tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

  void Accept() {
    acceptor.async_accept([this](beast::error_code error, Tcp::socket socket) {
      if (error) return;
      server.CountConnection();
      std::make_shared<Session>(*this, std::move(socket))->Read();
      Accept();
    });
  }

  FakeHttpServer& server;
  asio::io_context io;
  Tcp::acceptor acceptor;
  std::vector<std::shared_ptr<Session>> stalled;
};

FakeHttpServer::FakeHttpServer(Responder respond)
    : respond_(std::move(respond)), impl_(std::make_unique<Impl>(*this)) {
  port_ = impl_->acceptor.local_endpoint().port();
  impl_->Accept();
  thread_ = std::thread([this] { impl_->io.run(); });
}

FakeHttpServer::~FakeHttpServer() {
  impl_->io.stop();
  thread_.join();
  impl_->stalled.clear();
}

std::vector<ReceivedRequest> FakeHttpServer::requests() const {
  absl::MutexLock lock(&mu_);
  return requests_;
}

int FakeHttpServer::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

void FakeHttpServer::Record(const ReceivedRequest& request) {
  absl::MutexLock lock(&mu_);
  requests_.push_back(request);
}

void FakeHttpServer::CountConnection() {
  absl::MutexLock lock(&mu_);
  ++connections_;
}

}  // namespace spine::llm::testing
