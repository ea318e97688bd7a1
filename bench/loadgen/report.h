// What a run measured, and its two renderings: a text table for people and JSON for scripts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bench/loadgen/histogram.h"
#include "nlohmann/json.hpp"

namespace spine::loadgen {

// The answers to one kind of request (a mix request, a setup step, or the login).
struct Figures {
  Histogram latency_ns;            // from the due time (scheduled) or the send (setup, login)
  std::map<int, uint64_t> status;  // HTTP status -> count
  uint64_t unexpected = 0;         // a status not in the request's `expect`
  uint64_t transport_errors = 0;   // no HTTP answer (connect, reset, timeout, bad response)
  uint64_t sse_incomplete = 0;     // an SSE answer that ended without `event: done`
  uint64_t dropped = 0;            // never sent: the in-flight bound and its queue were full

  void Merge(const Figures& other);
  uint64_t Answered() const;
  uint64_t StatusAtLeast(int low, int high) const;  // answers with low <= status < high
};

struct PhaseReport {
  std::string name;
  double seconds = 0;
  double target_per_minute = 0;  // the phase's mean target rate
  uint64_t offered = 0;          // requests due in the phase
  uint64_t sent = 0;
  Figures figures;  // the mix requests due in the phase
};

struct RunReport {
  int sessions = 0;
  int connections = 0;          // the in-flight bound
  double prepare_seconds = 0;   // users, logins and setup, before the clock starts
  double run_seconds = 0;       // first due time to the last answer
  double schedule_seconds = 0;  // the profile's length
  uint64_t offered = 0;         // requests due
  uint64_t sent = 0;
  uint64_t late = 0;  // sent more than 1 ms after due (timer lag or a full bound)
  uint64_t dropped = 0;
  uint64_t max_send_lag_ns = 0;
  uint64_t relogins = 0;
  int max_in_flight = 0;
  double cpu_user_seconds = 0;  // the generator's own CPU during the run
  double cpu_system_seconds = 0;
  std::map<std::string, uint64_t> transport_errors;  // by kind
  std::vector<std::string> order;                    // request names in mix order
  std::map<std::string, Figures> requests;           // mix requests, by name
  std::map<std::string, Figures> preparation;        // login and setup steps, by name
  std::vector<PhaseReport> phases;

  Figures Overall() const;  // every mix request
};

// "log-linear histogram, 128 sub-buckets per power of two, <= 0.4 % relative error"
std::string HistogramDescription();

nlohmann::json ToJson(const RunReport& report);
std::string ToText(const RunReport& report);

}  // namespace spine::loadgen
