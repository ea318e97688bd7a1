#include "bench/loadgen/report.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace spine::loadgen {
namespace {

double Ms(uint64_t ns) { return static_cast<double>(ns) / 1e6; }

nlohmann::json FiguresJson(const Figures& f) {
  nlohmann::json status = nlohmann::json::object();
  for (const auto& [code, n] : f.status) status[std::to_string(code)] = n;
  const Histogram& h = f.latency_ns;
  return {{"count", f.Answered() + f.transport_errors},
          {"status", status},
          {"status5xx", f.StatusAtLeast(500, 600)},
          {"status429", f.StatusAtLeast(429, 430)},
          {"unexpected", f.unexpected},
          {"transportErrors", f.transport_errors},
          {"sseIncomplete", f.sse_incomplete},
          {"dropped", f.dropped},
          {"p50Ms", Ms(h.Quantile(0.50))},
          {"p95Ms", Ms(h.Quantile(0.95))},
          {"p99Ms", Ms(h.Quantile(0.99))},
          {"maxMs", Ms(h.Max())},
          {"meanMs", h.Mean() / 1e6}};
}

std::string StatusText(const Figures& f) {
  std::string s;
  for (const auto& [code, n] : f.status) absl::StrAppend(&s, s.empty() ? "" : " ", code, ":", n);
  return s.empty() ? "-" : s;
}

std::string FiguresLine(const std::string& name, const Figures& f) {
  const Histogram& h = f.latency_ns;
  return absl::StrFormat("%-22s %8d %8.2f %8.2f %8.2f %9.2f %6d %6d  %s\n", name,
                         f.Answered() + f.transport_errors, Ms(h.Quantile(0.50)),
                         Ms(h.Quantile(0.95)), Ms(h.Quantile(0.99)), Ms(h.Max()), f.unexpected,
                         f.transport_errors + f.sse_incomplete + f.dropped, StatusText(f));
}

std::string MachineLine(const std::string& scope, const Figures& f, uint64_t offered, uint64_t sent,
                        double per_minute) {
  const Histogram& h = f.latency_ns;
  return absl::StrFormat(
      "figures scope=%s offered=%d sent=%d per_minute=%.0f answered=%d p50_ms=%.3f p95_ms=%.3f "
      "p99_ms=%.3f max_ms=%.3f s5xx=%d s429=%d unexpected=%d transport_errors=%d "
      "sse_incomplete=%d dropped=%d\n",
      scope, offered, sent, per_minute, f.Answered(), Ms(h.Quantile(0.50)), Ms(h.Quantile(0.95)),
      Ms(h.Quantile(0.99)), Ms(h.Max()), f.StatusAtLeast(500, 600), f.StatusAtLeast(429, 430),
      f.unexpected, f.transport_errors, f.sse_incomplete, f.dropped);
}

constexpr char kHeader[] =
    "name                      count  p50(ms)  p95(ms)  p99(ms)   max(ms)  unexp  errs  status\n";

}  // namespace

void Figures::Merge(const Figures& other) {
  latency_ns.Merge(other.latency_ns);
  for (const auto& [code, n] : other.status) status[code] += n;
  unexpected += other.unexpected;
  transport_errors += other.transport_errors;
  sse_incomplete += other.sse_incomplete;
  dropped += other.dropped;
}

uint64_t Figures::Answered() const { return StatusAtLeast(0, 1000); }

uint64_t Figures::StatusAtLeast(int low, int high) const {
  uint64_t n = 0;
  for (const auto& [code, count] : status) {
    if (code >= low && code < high) n += count;
  }
  return n;
}

Figures RunReport::Overall() const {
  Figures all;
  for (const auto& [name, f] : requests) all.Merge(f);
  return all;
}

std::string HistogramDescription() {
  return absl::StrFormat(
      "log-linear histogram, %d sub-buckets per power of two, <= %.1f %% relative error",
      Histogram::kSubCount, Histogram::kMaxRelativeError * 100);
}

nlohmann::json ToJson(const RunReport& r) {
  const double cpu = r.cpu_user_seconds + r.cpu_system_seconds;
  nlohmann::json errors = nlohmann::json::object();
  uint64_t transport_total = 0;
  for (const auto& [kind, n] : r.transport_errors) {
    errors[kind] = n;
    transport_total += n;
  }
  nlohmann::json j = {
      {"histogram", HistogramDescription()},
      {"sessions", r.sessions},
      {"connections", r.connections},
      {"prepareSeconds", r.prepare_seconds},
      {"scheduleSeconds", r.schedule_seconds},
      {"runSeconds", r.run_seconds},
      {"offered", r.offered},
      {"sent", r.sent},
      {"late", r.late},
      {"dropped", r.dropped},
      {"maxSendLagMs", Ms(r.max_send_lag_ns)},
      {"maxInFlight", r.max_in_flight},
      {"relogins", r.relogins},
      {"achievedPerMinute",
       r.schedule_seconds > 0 ? static_cast<double>(r.sent) / r.schedule_seconds * 60.0 : 0.0},
      {"transportErrors", {{"total", transport_total}, {"byKind", errors}}},
      {"cpu",
       {{"userSeconds", r.cpu_user_seconds},
        {"systemSeconds", r.cpu_system_seconds},
        {"usPerRequest", r.sent > 0 ? cpu * 1e6 / static_cast<double>(r.sent) : 0.0}}},
      {"overall", FiguresJson(r.Overall())},
  };
  nlohmann::json phases = nlohmann::json::array();
  for (const PhaseReport& p : r.phases) {
    nlohmann::json pj = FiguresJson(p.figures);
    pj["name"] = p.name;
    pj["seconds"] = p.seconds;
    pj["targetPerMinute"] = p.target_per_minute;
    pj["offered"] = p.offered;
    pj["sent"] = p.sent;
    pj["achievedPerMinute"] = p.seconds > 0 ? static_cast<double>(p.sent) / p.seconds * 60 : 0.0;
    phases.push_back(std::move(pj));
  }
  j["phases"] = std::move(phases);
  nlohmann::json requests = nlohmann::json::object();
  for (const auto& [name, f] : r.requests) requests[name] = FiguresJson(f);
  j["requests"] = std::move(requests);
  nlohmann::json prep = nlohmann::json::object();
  for (const auto& [name, f] : r.preparation) prep[name] = FiguresJson(f);
  j["preparation"] = std::move(prep);
  return j;
}

std::string ToText(const RunReport& r) {
  std::string out;
  const Figures all = r.Overall();
  absl::StrAppend(&out, "latency from each request's due time (open loop); ",
                  HistogramDescription(), "\n");
  absl::StrAppend(&out, absl::StrFormat("%d sessions, in-flight bound %d (max seen %d); "
                                        "preparation %.1f s; schedule %.1f s, run %.1f s\n",
                                        r.sessions, r.connections, r.max_in_flight,
                                        r.prepare_seconds, r.schedule_seconds, r.run_seconds));
  out += kHeader;
  for (const std::string& name : r.order) {
    const auto it = r.requests.find(name);
    if (it != r.requests.end()) out += FiguresLine(name, it->second);
  }
  out += FiguresLine("ALL", all);
  out += "phases:\n";
  for (const PhaseReport& p : r.phases) {
    out += FiguresLine(absl::StrFormat("%s %.0f/min", p.name, p.target_per_minute), p.figures);
  }
  out += "preparation (closed loop, from the send):\n";
  for (const auto& [name, f] : r.preparation) out += FiguresLine(name, f);
  uint64_t transport_total = 0;
  std::string kinds;
  for (const auto& [kind, n] : r.transport_errors) {
    transport_total += n;
    absl::StrAppend(&kinds, " ", kind, ":", n);
  }
  const double cpu = r.cpu_user_seconds + r.cpu_system_seconds;
  absl::StrAppend(
      &out,
      absl::StrFormat(
          "offered %d, sent %d, achieved %.0f/min; late %d (max send lag %.2f ms), dropped %d; "
          "5xx %d, 429 %d, unexpected %d; transport errors %d%s; relogins %d\n",
          r.offered, r.sent,
          r.schedule_seconds > 0 ? static_cast<double>(r.sent) / r.schedule_seconds * 60 : 0.0,
          r.late, Ms(r.max_send_lag_ns), r.dropped, all.StatusAtLeast(500, 600),
          all.StatusAtLeast(429, 430), all.unexpected, transport_total, kinds, r.relogins));
  absl::StrAppend(&out,
                  absl::StrFormat("generator CPU %.2f s user + %.2f s system = %.1f %% of "
                                  "one core over the run, %.0f us per request\n",
                                  r.cpu_user_seconds, r.cpu_system_seconds,
                                  r.run_seconds > 0 ? cpu / r.run_seconds * 100 : 0.0,
                                  r.sent > 0 ? cpu * 1e6 / static_cast<double>(r.sent) : 0.0));
  // One line per phase and one for the run, for scripts that do not parse JSON.
  for (const PhaseReport& p : r.phases) {
    out += MachineLine(p.name, p.figures, p.offered, p.sent,
                       p.seconds > 0 ? static_cast<double>(p.sent) / p.seconds * 60 : 0.0);
  }
  out += MachineLine(
      "ALL", all, r.offered, r.sent,
      r.schedule_seconds > 0 ? static_cast<double>(r.sent) / r.schedule_seconds * 60 : 0.0);
  out += absl::StrFormat("figures scope=generator cpu_s=%.3f late=%d max_send_lag_ms=%.3f\n", cpu,
                         r.late, Ms(r.max_send_lag_ns));
  return out;
}

}  // namespace spine::loadgen
