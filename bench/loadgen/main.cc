// spine-loadgen: an open-loop load generator for the mix of tests/load/mix.json (see
// docs/bench-load.md). Prints the figures as text, and as JSON with --json FILE.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/loadgen/generator.h"
#include "bench/loadgen/mix.h"
#include "bench/loadgen/report.h"
#include "bench/loadgen/schedule.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"

namespace {

constexpr char kUsage[] =
    R"(usage: spine-loadgen --addr HOST:PORT --mix FILE --admin-password-file FILE
                     --phase NAME:SECONDS:RATE[:RATE_END]... [options]
  --phase            a phase of the profile, rates in requests/min (RATE_END: a linear ramp);
                     repeat in order, e.g. --phase warmup:10:2500:25000 --phase sustained:60:25000
  --admin-user NAME  the admin that creates the users load<session> (default admin)
  --sessions N       client sessions (default: enough that each stays under --session-rate)
  --session-rate R   the most requests/min one session may get (default 85; the limit is 100)
  --first-session N  number of the first session (default 1)
  --connections N    the in-flight bound: keep-alive connections (default 256)
  --queue N          requests waiting for a connection beyond it; more are dropped (default 100000)
  --timeout-ms N     per request (default 30000)
  --prepare N        sessions prepared at once (default 8)
  --relogin-s N      log a session in again within N s, spread over the last quarter
                     (default 600; access tokens live 15 min)
  --progress-s N     a progress line on stderr every N s (default 0: none)
  --seed N           the weighted pick's seed (default 1)
  --json FILE        the report as JSON too
  --started-file F   created once the sessions are prepared and the clock starts (for scripts
                     that measure the services over the run only)
       spine-loadgen --free-ports N   prints N free loopback ports
)";

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

// --free-ports N: N loopback ports free right now, one a line, for the bench scripts' stacks.
int FreePorts(int n) {
  boost::asio::io_context ioc;
  std::vector<boost::asio::ip::tcp::acceptor> held;  // all held at once, so all distinct
  for (int i = 0; i < n; ++i) {
    held.emplace_back(
        ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    std::cout << held.back().local_endpoint().port() << "\n";
  }
  return 0;
}

int Usage(const std::string& why) {
  std::cerr << "spine-loadgen: " << why << "\n" << kUsage;
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using spine::loadgen::Options;
  Options options;
  std::string addr;
  std::string mix_path;
  std::string password_file;
  std::string json_path;
  std::vector<spine::loadgen::Phase> phases;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    }
    if (a == "--free-ports" && i + 1 < args.size()) {
      int n = 0;
      if (!absl::SimpleAtoi(args[i + 1], &n) || n <= 0 || n > 1000) return Usage("--free-ports N");
      return FreePorts(n);
    }
    if (i + 1 >= args.size()) return Usage(absl::StrCat(a, ": missing value or unknown option"));
    const std::string& v = args[++i];
    bool ok = true;
    if (a == "--addr") {
      addr = v;
    } else if (a == "--mix") {
      mix_path = v;
    } else if (a == "--admin-password-file") {
      password_file = v;
    } else if (a == "--admin-user") {
      options.admin_user = v;
    } else if (a == "--started-file") {
      options.started_file = v;
    } else if (a == "--json") {
      json_path = v;
    } else if (a == "--phase") {
      auto p = spine::loadgen::ParsePhase(v);
      if (!p.ok()) return Usage(std::string(p.status().message()));
      phases.push_back(*p);
    } else if (a == "--sessions") {
      ok = absl::SimpleAtoi(v, &options.sessions) && options.sessions > 0;
    } else if (a == "--session-rate") {
      ok = absl::SimpleAtod(v, &options.max_session_per_minute) &&
           options.max_session_per_minute > 0;
    } else if (a == "--first-session") {
      ok = absl::SimpleAtoi(v, &options.first_session) && options.first_session >= 0;
    } else if (a == "--connections") {
      ok = absl::SimpleAtoi(v, &options.connections) && options.connections > 0;
    } else if (a == "--queue") {
      ok = absl::SimpleAtoi(v, &options.queue_limit);
    } else if (a == "--timeout-ms") {
      ok = absl::SimpleAtoi(v, &options.timeout_ms) && options.timeout_ms > 0;
    } else if (a == "--prepare") {
      ok = absl::SimpleAtoi(v, &options.prepare_concurrency) && options.prepare_concurrency > 0;
    } else if (a == "--relogin-s") {
      ok = absl::SimpleAtoi(v, &options.relogin_seconds) && options.relogin_seconds > 0;
    } else if (a == "--progress-s") {
      ok = absl::SimpleAtoi(v, &options.progress_seconds) && options.progress_seconds >= 0;
    } else if (a == "--seed") {
      ok = absl::SimpleAtoi(v, &options.seed);
    } else {
      return Usage(absl::StrCat("unknown option ", a));
    }
    if (!ok) return Usage(absl::StrCat(a, ": bad value '", v, "'"));
  }
  const size_t colon = addr.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port <= 0 ||
      port > 65535) {
    return Usage("--addr HOST:PORT is required");
  }
  options.host = addr.substr(0, colon);
  options.port = static_cast<uint16_t>(port);
  if (mix_path.empty() || password_file.empty() || phases.empty()) {
    return Usage("--mix, --admin-password-file and at least one --phase are required");
  }
  std::string mix_text;
  if (!ReadFile(mix_path, &mix_text)) return Usage(absl::StrCat("cannot read ", mix_path));
  if (!ReadFile(password_file, &options.admin_password)) {
    return Usage(absl::StrCat("cannot read ", password_file));
  }
  while (!options.admin_password.empty() &&
         (options.admin_password.back() == '\n' || options.admin_password.back() == '\r')) {
    options.admin_password.pop_back();
  }
  auto mix = spine::loadgen::ParseMix(mix_text);
  if (!mix.ok()) return Usage(std::string(mix.status().message()));
  auto schedule = spine::loadgen::Schedule::Create(phases);
  if (!schedule.ok()) return Usage(std::string(schedule.status().message()));

  auto report = spine::loadgen::Run(options, *mix, *schedule);
  if (!report.ok()) {
    std::cerr << "spine-loadgen: " << report.status().message() << "\n";
    return 1;
  }
  std::cout << spine::loadgen::ToText(*report) << std::flush;
  if (!json_path.empty()) {
    std::ofstream out(json_path);
    out << spine::loadgen::ToJson(*report).dump(2) << "\n";
    if (!out) {
      std::cerr << "spine-loadgen: cannot write " << json_path << "\n";
      return 1;
    }
  }
  return 0;
}
