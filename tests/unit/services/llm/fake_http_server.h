// FakeHttpServer: an HTTP/1.1 server on 127.0.0.1 for the backend tests, scripted per request —
// it can stream a body in separate chunks with pauses, stall, or drop the connection mid-body.
// Keep-alive connections are served request after request, and counted.
//
// Thread-safe; the server runs on its own thread (Boost.Asio) until destroyed.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace spine::llm::testing {

struct FakeResponse {
  enum class End {
    kComplete,  // finish the body and keep the connection open for the next request
    kStall,     // send nothing more, keep the connection open until the server is destroyed
    kDrop,      // close the connection without finishing the body
  };

  int status = 200;
  std::string content_type = "application/x-ndjson";
  std::vector<std::string> chunks{};            // each written (and flushed) on its own
  absl::Duration pause = absl::ZeroDuration();  // before every chunk after the first
  End end = End::kComplete;
  bool chunked = true;  // false: one Content-Length body of all chunks (End::kComplete only)
};

struct ReceivedRequest {
  std::string method{};
  std::string target{};
  std::map<std::string, std::string> headers{};  // lower-cased names
  std::string body{};
};

class FakeHttpServer {
 public:
  using Responder = std::function<FakeResponse(const ReceivedRequest&)>;

  // Listens on a free port; `respond` (called on the server's thread) scripts each reply.
  explicit FakeHttpServer(Responder respond);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<ReceivedRequest> requests() const;
  int connections() const;

 private:
  struct Impl;
  friend struct Impl;

  void Record(const ReceivedRequest& request);
  void CountConnection();

  Responder respond_;
  int port_ = 0;
  mutable absl::Mutex mu_;
  std::vector<ReceivedRequest> requests_ ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<Impl> impl_;
  std::thread thread_;
};

}  // namespace spine::llm::testing
