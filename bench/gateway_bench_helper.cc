// gateway_bench_helper: the two things bench/gateway cannot do well in a shell.
//
//   gateway_bench_helper free-ports N
//       prints N distinct loopback TCP ports that were free a moment ago, one a line (all N
//       sockets are held open together, so the ports differ from each other)
//   gateway_bench_helper user-token PRIVATE_KEY_PEM_FILE SUB NAME
//       prints an access JWT (role "user", one hour) signed with the key, as the gateway's
//       AuthService would mint it after a login — without the scrypt login in the way
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "libs/auth/ed25519_keys.h"
#include "libs/auth/jwt.h"
#include "libs/core/clock.h"

namespace {

int PrintFreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  for (int i = 0; i < count; ++i) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof(addr);
    if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      std::fprintf(stderr, "free-ports: cannot bind a loopback port\n");
      return 1;
    }
    fds.push_back(fd);
    ports.push_back(ntohs(addr.sin_port));
  }
  for (const int fd : fds) close(fd);
  for (const int port : ports) std::printf("%d\n", port);
  return 0;
}

int PrintUserToken(const std::string& key_file, const std::string& sub, const std::string& name) {
  auto key = spine::Ed25519PrivateKey::FromPemFile(key_file);
  if (!key.ok()) {
    std::fprintf(stderr, "user-token: %s\n", std::string(key.status().message()).c_str());
    return 1;
  }
  const spine::JwtSigner signer(std::move(*key), spine::RealClock::Instance(), absl::Hours(1));
  auto token = signer.Sign(sub, name, "user");
  if (!token.ok()) {
    std::fprintf(stderr, "user-token: %s\n", std::string(token.status().message()).c_str());
    return 1;
  }
  std::printf("%s\n", token->c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 2 && args[0] == "free-ports") {
    const int count = std::atoi(args[1].c_str());
    if (count >= 1 && count <= 64) return PrintFreePorts(count);
  }
  if (args.size() == 4 && args[0] == "user-token") return PrintUserToken(args[1], args[2], args[3]);
  std::fprintf(stderr,
               "usage: gateway_bench_helper free-ports N (1..64)\n"
               "       gateway_bench_helper user-token PRIVATE_KEY_PEM_FILE SUB NAME\n");
  return 2;
}
