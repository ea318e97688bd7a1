#include "bench/loadgen/generator.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/beast/core.hpp"
#include "boost/beast/http.hpp"
#include "nlohmann/json.hpp"

namespace spine::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

constexpr char kLoginName[] = "login";
constexpr auto kLateAfter = std::chrono::milliseconds(1);

uint64_t Ns(Clock::duration d) {
  return static_cast<uint64_t>(
      std::max<int64_t>(0, std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()));
}

double CpuSeconds(const timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

std::string RandomPassword() {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 24; ++i) s += "0123456789abcdef"[rd() % 16];
  return s;
}

struct Result {
  int status = 0;
  std::string body;
  std::string error;  // a transport error's kind, or "dropped"; empty when answered
  Clock::time_point sent;
  Clock::time_point end;
};

struct Job {
  std::string method;
  std::string target;
  std::string body;
  std::string token;
  std::string address;
  bool sse = false;
  bool scheduled = false;
  int phase = -1;
  bool retried = false;
  Clock::time_point due;
  std::function<void(const Result&)> done;
};

struct Conn {
  explicit Conn(asio::io_context& ioc) : stream(ioc) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  bool open = false;
  bool reused = false;  // has answered before: the server may have closed it meanwhile
  http::request<http::string_body> request;
  std::optional<http::response_parser<http::string_body>> parser;
  Job job;
  Clock::time_point sent;
};

struct Session {
  int number = 0;
  std::string address;
  std::string username;
  Vars vars;
  std::string token;
  Clock::time_point token_time;
  bool relogging = false;
};

bool Expected(const MixRequest& spec, int status) {
  return std::find(spec.expect.begin(), spec.expect.end(), status) != spec.expect.end();
}

std::optional<std::string> Field(const std::string& body, const std::string& field) {
  const auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains(field)) return std::nullopt;
  const auto& v = j.at(field);
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

class Engine {
 public:
  Engine(const Options& options, const Mix& mix, const Schedule& schedule)
      : options_(options),
        mix_(mix),
        schedule_(schedule),
        endpoint_(asio::ip::make_address(options.host), options.port),
        timer_(ioc_),
        progress_timer_(ioc_),
        picker_(
            [&] {
              std::vector<uint32_t> w;
              for (const MixRequest& r : mix.requests) w.push_back(r.weight);
              return w;
            }(),
            options.seed) {}

  absl::StatusOr<RunReport> Run() {
    const int n = options_.sessions > 0
                      ? options_.sessions
                      : SessionsFor(schedule_.PeakPerMinute(), options_.max_session_per_minute);
    password_ = RandomPassword();
    for (int i = 0; i < n; ++i) {
      Session s;
      s.number = options_.first_session + i;
      s.address = SessionAddress(s.number);
      s.username =
          Substitute(mix_.username_template, {{"session", std::to_string(s.number)}}, false);
      s.vars["session"] = std::to_string(s.number);
      sessions_.push_back(std::move(s));
    }
    report_.sessions = n;
    report_.connections = options_.connections;
    for (const MixRequest& r : mix_.requests) report_.order.push_back(r.name);
    for (int i = 0; i < static_cast<int>(schedule_.phases().size()); ++i) {
      const Phase& p = schedule_.phases()[i];
      PhaseReport pr;
      pr.name = p.name;
      pr.seconds = p.seconds;
      pr.target_per_minute = (p.start_per_minute + p.end_per_minute) / 2;
      pr.offered = schedule_.PhaseRequests(i);
      report_.phases.push_back(std::move(pr));
    }
    prepare_start_ = Clock::now();
    AdminLogin();
    ioc_.run();
    rusage end_usage{};
    getrusage(RUSAGE_SELF, &end_usage);
    if (!error_.empty()) return absl::UnavailableError(error_);
    report_.cpu_user_seconds = CpuSeconds(end_usage.ru_utime) - CpuSeconds(start_usage_.ru_utime);
    report_.cpu_system_seconds = CpuSeconds(end_usage.ru_stime) - CpuSeconds(start_usage_.ru_stime);
    report_.run_seconds = std::chrono::duration<double>(last_answer_ - t0_).count();
    report_.schedule_seconds = std::chrono::duration<double>(schedule_.TotalDuration()).count();
    report_.offered = schedule_.TotalRequests();
    return std::move(report_);
  }

 private:
  // --- the connection pool: at most options_.connections requests in flight ---

  void Send(Job job) {
    if (!idle_.empty()) {
      Conn* c = idle_.back();
      idle_.pop_back();
      Start(c, std::move(job));
    } else if (static_cast<int>(conns_.size()) < options_.connections) {
      conns_.push_back(std::make_unique<Conn>(ioc_));
      Start(conns_.back().get(), std::move(job));
    } else if (waiting_.size() < options_.queue_limit) {
      waiting_.push_back(std::move(job));
    } else {
      Result r;
      r.error = "dropped";
      r.sent = r.end = Clock::now();
      job.done(r);
    }
    report_.max_in_flight =
        std::max(report_.max_in_flight, static_cast<int>(conns_.size() - idle_.size()));
  }

  void Start(Conn* c, Job job) {
    c->job = std::move(job);
    const Job& j = c->job;
    c->sent = Clock::now();
    if (j.scheduled && !j.retried) {
      const uint64_t lag = Ns(c->sent - j.due);
      ++report_.sent;
      ++report_.phases[j.phase].sent;
      report_.max_send_lag_ns = std::max(report_.max_send_lag_ns, lag);
      if (c->sent - j.due > kLateAfter) ++report_.late;
    }
    auto& req = c->request;
    req = {};
    req.method(http::string_to_verb(j.method));
    req.target(j.target);
    req.version(11);
    req.set(http::field::host, absl::StrCat(options_.host, ":", options_.port));
    req.set(http::field::user_agent, "spine-loadgen");
    req.set("X-Forwarded-For", j.address);
    if (!j.token.empty()) req.set(http::field::authorization, absl::StrCat("Bearer ", j.token));
    if (j.sse) req.set(http::field::accept, "text/event-stream");
    if (!j.body.empty()) {
      req.set(http::field::content_type, "application/json");
      req.body() = j.body;
    }
    req.keep_alive(true);
    req.prepare_payload();
    c->stream.expires_after(std::chrono::milliseconds(options_.timeout_ms));
    if (c->open) {
      Write(c);
      return;
    }
    c->stream.async_connect(endpoint_, [this, c](beast::error_code ec) {
      if (ec) return Fail(c, ec, "connect");
      c->open = true;
      c->reused = false;
      c->stream.socket().set_option(tcp::no_delay(true), ec);
      Write(c);
    });
  }

  void Write(Conn* c) {
    http::async_write(c->stream, c->request, [this, c](beast::error_code ec, size_t) {
      if (ec) return Fail(c, ec, "write");
      c->parser.emplace();
      c->parser->body_limit(std::uint64_t{64} << 20);
      http::async_read(c->stream, c->buffer, *c->parser, [this, c](beast::error_code ec2, size_t) {
        if (ec2) return Fail(c, ec2, "read");
        auto response = c->parser->release();
        Result r;
        r.status = static_cast<int>(response.result_int());
        r.body = std::move(response.body());
        if (!response.keep_alive()) Close(c);
        Finish(c, std::move(r));
      });
    });
  }

  void Close(Conn* c) {
    beast::error_code ignored;
    c->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    c->stream.socket().close(ignored);
    c->buffer.consume(c->buffer.size());
    c->open = false;
    c->reused = false;
  }

  void Fail(Conn* c, beast::error_code ec, const char* step) {
    const bool stale = ec == http::error::end_of_stream || ec == asio::error::eof ||
                       ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
    const bool was_reused = c->reused;
    Close(c);
    if (stale && was_reused && !c->job.retried) {
      // A keep-alive connection the server had closed while idle: once more on a new one.
      c->job.retried = true;
      Job job = std::move(c->job);
      Start(c, std::move(job));
      return;
    }
    Result r;
    r.error = ec == beast::error::timeout ? std::string("timeout")
                                          : absl::StrCat(step, ": ", ec.message());
    Finish(c, std::move(r));
  }

  void Finish(Conn* c, Result r) {
    r.sent = c->sent;
    r.end = Clock::now();
    last_answer_ = r.end;
    Job job = std::move(c->job);
    c->job = {};
    c->reused = c->open;
    if (!waiting_.empty()) {
      Job next = std::move(waiting_.front());
      waiting_.pop_front();
      Start(c, std::move(next));
    } else {
      idle_.push_back(c);
    }
    job.done(r);
    MaybeEnd();
  }

  // --- preparation: the admin, then per session user, login and setup ---

  Job PrepJob(std::string method, std::string target, const nlohmann::json& body, std::string token,
              std::string address) {
    Job j;
    j.method = std::move(method);
    j.target = std::move(target);
    if (!body.is_null()) j.body = body.dump();
    j.token = std::move(token);
    j.address = std::move(address);
    j.due = Clock::now();
    return j;
  }

  void RecordPrep(const std::string& name, const Result& r, bool ok) {
    Figures& f = report_.preparation[name];
    if (!r.error.empty()) {
      ++f.transport_errors;
      return;
    }
    ++f.status[r.status];
    if (!ok) ++f.unexpected;
    f.latency_ns.Record(Ns(r.end - r.sent));
  }

  void Abort(std::string message) {
    if (error_.empty()) error_ = std::move(message);
    ioc_.stop();
  }

  static std::string Describe(const Result& r) {
    return r.error.empty() ? absl::StrCat(r.status, " ", r.body.substr(0, 300)) : r.error;
  }

  void AdminLogin() {
    Job j = PrepJob("POST", mix_.login_path,
                    {{"username", options_.admin_user}, {"password", options_.admin_password}}, "",
                    SessionAddress(0));
    j.done = [this](const Result& r) {
      const bool ok = r.error.empty() && r.status == 200;
      RecordPrep("admin.login", r, ok);
      auto token = ok ? Field(r.body, "accessToken") : std::nullopt;
      if (!token) return Abort(absl::StrCat("admin login failed: ", Describe(r)));
      admin_token_ = *token;
      const int first = std::min<int>(options_.prepare_concurrency, sessions_.size());
      next_prepare_ = first;
      for (int i = 0; i < first; ++i) CreateUser(i);
    };
    Send(std::move(j));
  }

  void CreateUser(int i) {
    Session& s = sessions_[i];
    Job j = PrepJob("POST", "/api/users",
                    {{"username", s.username}, {"password", password_}, {"role", "user"}},
                    admin_token_, s.address);
    j.done = [this, i](const Result& r) {
      const bool ok = r.error.empty() && (r.status == 201 || r.status == 409);
      RecordPrep("admin.createUser", r, ok);
      if (!ok) return Abort(absl::StrCat("creating ", sessions_[i].username, ": ", Describe(r)));
      if (r.status == 409) return ResetPassword(i);  // a stack reused from an earlier run
      Login(i, false);
    };
    Send(std::move(j));
  }

  void ResetPassword(int i) {
    Job j = PrepJob("GET", "/api/users", nullptr, admin_token_, sessions_[i].address);
    j.done = [this, i](const Result& r) {
      RecordPrep("admin.listUsers", r, r.error.empty() && r.status == 200);
      std::string id;
      const auto list = nlohmann::json::parse(r.body, nullptr, false);
      if (list.is_object() && list.contains("users") && list.at("users").is_array()) {
        for (const auto& u : list.at("users")) {
          if (u.value("username", "") == sessions_[i].username) id = u.value("id", "");
        }
      }
      if (id.empty()) return Abort(absl::StrCat("user ", sessions_[i].username, " not listed"));
      Job p = PrepJob("POST", absl::StrCat("/api/users/", id, "/password"),
                      {{"password", password_}}, admin_token_, sessions_[i].address);
      p.done = [this, i](const Result& r2) {
        const bool ok = r2.error.empty() && r2.status == 204;
        RecordPrep("admin.setPassword", r2, ok);
        if (!ok) return Abort(absl::StrCat("setting a password: ", Describe(r2)));
        Login(i, false);
      };
      Send(std::move(p));
    };
    Send(std::move(j));
  }

  void Login(int i, bool during_run) {
    Session& s = sessions_[i];
    Job j = PrepJob("POST", mix_.login_path, {{"username", s.username}, {"password", password_}},
                    "", s.address);
    j.done = [this, i, during_run](const Result& r) {
      Session& s = sessions_[i];
      const bool ok = r.error.empty() && r.status == 200;
      RecordPrep(kLoginName, r, ok);
      const auto token = ok ? Field(r.body, "accessToken") : std::nullopt;
      if (during_run) {
        s.relogging = false;
        if (token) {
          s.token = *token;
          s.token_time = Clock::now();
          ++report_.relogins;
        }
        return;
      }
      if (!token) return Abort(absl::StrCat("login of ", s.username, ": ", Describe(r)));
      s.token = *token;
      s.token_time = Clock::now();
      SetupStep(i, 0);
    };
    Send(std::move(j));
  }

  void SetupStep(int i, size_t step) {
    if (step == mix_.setup.size()) return SessionReady();
    Session& s = sessions_[i];
    const MixRequest& spec = mix_.setup[step];
    Job j = PrepJob(spec.method, Substitute(spec.path, s.vars, false), nullptr, s.token, s.address);
    j.body = Substitute(spec.body, s.vars, true);
    j.sse = spec.sse;
    j.done = [this, i, step](const Result& r) {
      const MixRequest& spec = mix_.setup[step];
      const bool ok = r.error.empty() && Expected(spec, r.status);
      RecordPrep(spec.name, r, ok);
      if (!ok) {
        return Abort(absl::StrCat(spec.name, " of ", sessions_[i].username, ": ", Describe(r)));
      }
      Capture(sessions_[i], spec, r.body);
      SetupStep(i, step + 1);
    };
    Send(std::move(j));
  }

  void SessionReady() {
    ++ready_;
    if (next_prepare_ < static_cast<int>(sessions_.size())) CreateUser(next_prepare_++);
    if (ready_ == static_cast<int>(sessions_.size())) StartRun();
  }

  static void Capture(Session& s, const MixRequest& spec, const std::string& body) {
    if (spec.capture.empty()) return;
    for (const auto& [var, field] : spec.capture) {
      if (auto v = Field(body, field)) s.vars[var] = *v;
    }
  }

  // --- the run ---

  void StartRun() {
    report_.prepare_seconds = std::chrono::duration<double>(Clock::now() - prepare_start_).count();
    if (!options_.started_file.empty()) {
      std::FILE* f = std::fopen(options_.started_file.c_str(), "w");
      if (f != nullptr) std::fclose(f);
    }
    getrusage(RUSAGE_SELF, &start_usage_);
    // A moment's slack so that the first due times are not already late.
    t0_ = Clock::now() + std::chrono::milliseconds(50);
    last_answer_ = t0_;
    next_ = schedule_.Due(0);
    if (options_.progress_seconds > 0) Progress();
    Tick();
  }

  void Tick() {
    const auto now = Clock::now();
    while (next_ && t0_ + next_->due <= now) {
      Dispatch(next_k_, *next_);
      next_ = schedule_.Due(++next_k_);
    }
    if (!next_) {
      dispatch_done_ = true;
      MaybeEnd();
      return;
    }
    timer_.expires_at(t0_ + next_->due);
    timer_.async_wait([this](beast::error_code ec) {
      if (!ec) Tick();
    });
  }

  void Dispatch(uint64_t k, const Schedule::Slot& slot) {
    const int i = static_cast<int>(k % sessions_.size());
    Session& s = sessions_[i];
    const auto now = Clock::now();
    // Spread over the last quarter of the interval: sessions prepared together would otherwise
    // all log in at once (a burst of password hashes, and of their memory, in the gateway).
    const auto relogin_after = std::chrono::duration<double>(
        options_.relogin_seconds * (0.75 + 0.25 * i / static_cast<double>(sessions_.size())));
    if (!s.relogging && now - s.token_time > relogin_after) {
      s.relogging = true;
      Login(i, true);
    }
    const size_t pick = picker_.Pick();
    const MixRequest& spec = mix_.requests[pick];
    s.vars["n"] = std::to_string(k);
    Job j;
    j.method = spec.method;
    j.target = Substitute(spec.path, s.vars, false);
    j.body = Substitute(spec.body, s.vars, true);
    j.token = s.token;
    j.address = s.address;
    j.sse = spec.sse;
    j.scheduled = true;
    j.phase = slot.phase;
    j.due = t0_ + slot.due;
    j.done = [this, i, pick, phase = slot.phase, due = j.due](const Result& r) {
      const MixRequest& spec = mix_.requests[pick];
      Figures& f = report_.requests[spec.name];
      Figures& pf = report_.phases[phase].figures;
      if (r.error == "dropped") {
        ++f.dropped;
        ++pf.dropped;
        ++report_.dropped;
        return;
      }
      if (!r.error.empty()) {
        ++f.transport_errors;
        ++pf.transport_errors;
        ++report_.transport_errors[r.error];
        return;
      }
      const uint64_t latency = Ns(r.end - due);
      f.latency_ns.Record(latency);
      pf.latency_ns.Record(latency);
      ++f.status[r.status];
      ++pf.status[r.status];
      const bool ok = Expected(spec, r.status);
      if (!ok) {
        ++f.unexpected;
        ++pf.unexpected;
      }
      if (spec.sse && ok && r.body.find("event: done") == std::string::npos) {
        ++f.sse_incomplete;
        ++pf.sse_incomplete;
      }
      if (ok) Capture(sessions_[i], spec, r.body);
    };
    Send(std::move(j));
  }

  void Progress() {
    progress_timer_.expires_after(std::chrono::seconds(options_.progress_seconds));
    progress_timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const Figures all = report_.Overall();
      std::fprintf(stderr,
                   "spine-loadgen: %.0f s: sent %llu, answered %llu, in flight %zu, queued %zu, "
                   "5xx %llu, unexpected %llu, transport errors %llu, p50 %.2f ms, p99 %.2f ms\n",
                   std::chrono::duration<double>(Clock::now() - t0_).count(),
                   static_cast<unsigned long long>(report_.sent),
                   static_cast<unsigned long long>(all.Answered()), conns_.size() - idle_.size(),
                   waiting_.size(), static_cast<unsigned long long>(all.StatusAtLeast(500, 600)),
                   static_cast<unsigned long long>(all.unexpected),
                   static_cast<unsigned long long>(all.transport_errors),
                   static_cast<double>(all.latency_ns.Quantile(0.5)) / 1e6,
                   static_cast<double>(all.latency_ns.Quantile(0.99)) / 1e6);
      Progress();
    });
  }

  void MaybeEnd() {
    if (!dispatch_done_ || !waiting_.empty() || idle_.size() != conns_.size()) return;
    // Idle keep-alive connections hold no pending operation; the timers are the only work left.
    progress_timer_.cancel();
    for (auto& c : conns_) Close(c.get());
  }

  const Options& options_;
  const Mix& mix_;
  const Schedule& schedule_;
  asio::io_context ioc_;
  tcp::endpoint endpoint_;
  asio::steady_timer timer_;
  asio::steady_timer progress_timer_;
  WeightedPicker picker_;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> idle_;
  std::deque<Job> waiting_;
  std::vector<Session> sessions_;
  std::string password_;
  std::string admin_token_;
  std::string error_;
  int next_prepare_ = 0;
  int ready_ = 0;
  Clock::time_point prepare_start_;
  Clock::time_point t0_;
  Clock::time_point last_answer_;
  rusage start_usage_{};
  std::optional<Schedule::Slot> next_;
  uint64_t next_k_ = 0;
  bool dispatch_done_ = false;
  RunReport report_;
};

}  // namespace

int SessionsFor(double peak_per_minute, double max_session_per_minute) {
  if (max_session_per_minute <= 0) return 1;
  return std::max(1, static_cast<int>(std::ceil(peak_per_minute / max_session_per_minute)));
}

std::string SessionAddress(int session) {
  // 10.0.0.0/8 minus its first address: up to 16 million sessions, never 10.0.0.0.
  const uint32_t a = static_cast<uint32_t>(session) + 1;
  return absl::StrFormat("10.%d.%d.%d", (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

absl::StatusOr<RunReport> Run(const Options& options, const Mix& mix, const Schedule& schedule) {
  try {
    Engine engine(options, mix, schedule);
    return engine.Run();
  } catch (const std::exception& e) {
    return absl::InternalError(e.what());
  }
}

}  // namespace spine::loadgen
