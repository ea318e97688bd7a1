// BackendReachability: each model's backend server checked in the background, with a fake probe;
// ProbeTcp against a loopback listener and a closed port.
#include "services/llm/backend_reachability.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace spine::llm {
namespace {

ModelConfig Model(const std::string& name, const std::string& base_url) {
  ModelConfig model;
  model.name = name;
  model.backend = base_url.empty() ? "stub" : "ollama";
  model.base_url = base_url;
  return model;
}

// A TCP listener on 127.0.0.1 with a kernel-chosen port; closed on destruction.
class Listener {
 public:
  Listener() : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(listen(fd_, 4) == 0);
    socklen_t length = sizeof(address);
    REQUIRE(getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    port_ = ntohs(address.sin_port);
  }
  ~Listener() { close(fd_); }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  int port() const { return port_; }
  // Stops listening: connections to the port are then refused.
  void Close() {
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
  int port_ = 0;
};

TEST_CASE("every model's backend is checked; stub models are always reachable") {
  const BackendReachability reachability(
      {Model("stub", ""), Model("up", "http://up:11434"), Model("down", "https://down/v1")},
      absl::Hours(1), [](const std::string& base_url) {
        return absl::StrContains(base_url, "down") ? absl::UnavailableError("down:443: refused")
                                                   : absl::OkStatus();
      });
  REQUIRE(reachability.WaitChecked(absl::Seconds(10)));
  const std::vector<BackendHealth> health = reachability.Snapshot();
  REQUIRE(health.size() == 3);
  CHECK(health[0].model == "stub");
  CHECK(health[0].reachable);
  CHECK(health[1].reachable);
  CHECK(health[2].model == "down");
  CHECK_FALSE(health[2].reachable);
  CHECK(health[2].error == "down:443: refused");
}

TEST_CASE("ProbeTcp connects to a listener and names the address it could not reach") {
  Listener listener;
  CHECK(
      ProbeTcp(absl::StrCat("http://127.0.0.1:", listener.port(), "/api"), absl::Seconds(2)).ok());
  const int port = listener.port();
  listener.Close();
  const absl::Status refused = ProbeTcp(absl::StrCat("http://127.0.0.1:", port), absl::Seconds(2));
  CHECK(refused.code() == absl::StatusCode::kUnavailable);
  CHECK(absl::StartsWith(refused.message(), absl::StrCat("127.0.0.1:", port, ": ")));
  CHECK(ProbeTcp("ftp://x", absl::Seconds(1)).code() == absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace spine::llm
