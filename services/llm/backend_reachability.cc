#include "services/llm/backend_reachability.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace spine::llm {
namespace {

// Closes the descriptor when it goes out of scope.
class Socket {
 public:
  explicit Socket(int fd) : fd_(fd) {}
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

struct HostPort {
  std::string host;
  std::string port;
};

absl::StatusOr<HostPort> HostPortOf(absl::string_view url) {
  std::string port = "80";
  if (absl::ConsumePrefix(&url, "https://")) {
    port = "443";
  } else if (!absl::ConsumePrefix(&url, "http://")) {
    return absl::InvalidArgumentError("not an http(s) URL");
  }
  url = url.substr(0, url.find_first_of("/?#"));
  url = url.substr(url.find('@') == absl::string_view::npos ? 0 : url.find('@') + 1);
  std::string host(url);
  if (absl::StartsWith(url, "[")) {
    const size_t close = url.find(']');
    if (close == absl::string_view::npos) return absl::InvalidArgumentError("bad IPv6 host");
    host = std::string(url.substr(1, close - 1));
    if (url.size() > close + 2 && url[close + 1] == ':') port = std::string(url.substr(close + 2));
  } else if (const size_t colon = url.rfind(':'); colon != absl::string_view::npos) {
    host = std::string(url.substr(0, colon));
    port = std::string(url.substr(colon + 1));
  }
  int number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &number) || number < 1 || number > 65535) {
    return absl::InvalidArgumentError("no host or a bad port");
  }
  return HostPort{host, port};
}

// One non-blocking connect to `address`, within `timeout`.
absl::Status ConnectOnce(const addrinfo& address, absl::Duration timeout) {
  Socket socket(::socket(address.ai_family, address.ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                         address.ai_protocol));
  if (socket.fd() < 0) return absl::UnavailableError(std::strerror(errno));
  if (connect(socket.fd(), address.ai_addr, address.ai_addrlen) == 0) return absl::OkStatus();
  if (errno != EINPROGRESS) return absl::UnavailableError(std::strerror(errno));
  pollfd pfd{socket.fd(), POLLOUT, 0};
  const int rc = poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (rc == 0) {
    return absl::UnavailableError(
        absl::StrCat("no answer within ", absl::ToInt64Milliseconds(timeout), " ms"));
  }
  if (rc < 0) return absl::UnavailableError(std::strerror(errno));
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(socket.fd(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
    return absl::UnavailableError(std::strerror(errno));
  }
  if (error != 0) return absl::UnavailableError(std::strerror(error));
  return absl::OkStatus();
}

}  // namespace

absl::Status ProbeTcp(const std::string& base_url, absl::Duration timeout) {
  absl::StatusOr<HostPort> target = HostPortOf(base_url);
  if (!target.ok()) return absl::UnavailableError(target.status().message());
  const std::string where = absl::StrCat(target->host, ":", target->port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = getaddrinfo(target->host.c_str(), target->port.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(absl::StrCat(where, ": ", gai_strerror(rc)));
  }
  absl::Status last = absl::UnavailableError("no address");
  for (const addrinfo* address = found; address != nullptr; address = address->ai_next) {
    last = ConnectOnce(*address, timeout);
    if (last.ok()) break;
  }
  freeaddrinfo(found);
  if (last.ok()) return last;
  return absl::UnavailableError(absl::StrCat(where, ": ", last.message()));
}

namespace {

std::vector<BackendHealth> AllReachable(const std::vector<ModelConfig>& models) {
  std::vector<BackendHealth> health;
  health.reserve(models.size());
  for (const ModelConfig& model : models) health.push_back({.model = model.name});
  return health;
}

}  // namespace

BackendReachability::BackendReachability(const std::vector<ModelConfig>& models,
                                         absl::Duration interval, Probe probe)
    : targets_([&] {
        std::vector<Target> targets;
        targets.reserve(models.size());
        for (const ModelConfig& model : models) targets.push_back({model.name, model.base_url});
        return targets;
      }()),
      interval_(interval),
      probe_(std::move(probe)),
      health_(AllReachable(models)),
      thread_([this] { Loop(); }) {}

BackendReachability::~BackendReachability() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

std::vector<BackendHealth> BackendReachability::Snapshot() const {
  absl::MutexLock lock(&mu_);
  return health_;
}

bool BackendReachability::WaitChecked(absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&checked_), timeout);
}

void BackendReachability::Loop() {
  for (;;) {
    std::vector<BackendHealth> health;
    for (const Target& target : targets_) {
      BackendHealth& entry = health.emplace_back(BackendHealth{.model = target.model});
      if (target.base_url.empty()) continue;
      // Outside the lock: a check may take its whole timeout.
      if (absl::Status status = probe_(target.base_url); !status.ok()) {
        entry.reachable = false;
        entry.error = std::string(status.message());
      }
    }
    absl::MutexLock lock(&mu_);
    health_ = std::move(health);
    checked_ = true;
    if (mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval_)) return;
  }
}

}  // namespace spine::llm
