// The open-loop generator: prepares one user per session through the admin API, logs each
// session in and runs the mix's setup, then offers the mix on the schedule over keep-alive
// connections to one address, each session with its own X-Forwarded-For. One I/O thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/loadgen/mix.h"
#include "bench/loadgen/report.h"
#include "bench/loadgen/schedule.h"

namespace spine::loadgen {

struct Options {
  std::string host = "127.0.0.1";
  uint16_t port = 0;
  std::string admin_user = "admin";
  std::string admin_password;
  int sessions = 0;                    // 0: enough that each stays under max_session_rate
  double max_session_per_minute = 85;  // the per-IP limit is 100/min; stay clear of it
  int first_session = 1;               // sessions are numbered from here (users load<n>)
  int connections = 256;               // the in-flight bound
  size_t queue_limit = 100000;         // requests waiting for a connection; beyond, dropped
  int timeout_ms = 30000;              // per request
  int prepare_concurrency = 8;         // sessions prepared at once (password hashing)
  int relogin_seconds = 600;           // access tokens live 15 min
  int progress_seconds = 0;            // a progress line on stderr every N s (0: none)
  uint64_t seed = 1;
  std::string started_file;  // created when the run's clock starts
};

// The number of sessions for a peak rate: each session gets peak/sessions per minute.
int SessionsFor(double peak_per_minute, double max_session_per_minute);

// The X-Forwarded-For address of session s (10.0.0.0/8, distinct per session).
std::string SessionAddress(int session);

absl::StatusOr<RunReport> Run(const Options& options, const Mix& mix, const Schedule& schedule);

}  // namespace spine::loadgen
