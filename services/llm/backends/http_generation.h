// HttpGeneration: the Generation handle of the HTTP backends — one transfer of an HttpClient.
#pragma once

#include "services/llm/backends/backend.h"
#include "services/llm/backends/http_client.h"

namespace spine::llm {

// Thread-safe. The HttpClient must outlive the handle's last Cancel.
class HttpGeneration final : public Generation {
 public:
  HttpGeneration(HttpClient& http, HttpClient::TransferId id) : http_(http), id_(id) {}
  // The transfer's handler reports CANCELLED as the generation's end.
  void Cancel() override { http_.Cancel(id_); }

 private:
  HttpClient& http_;
  const HttpClient::TransferId id_;
};

}  // namespace spine::llm
