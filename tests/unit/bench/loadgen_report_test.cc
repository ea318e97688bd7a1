#include <string>

#include "bench/loadgen/report.h"
#include "catch2/catch.hpp"
#include "nlohmann/json.hpp"

namespace spine::loadgen {
namespace {

RunReport Sample() {
  RunReport r;
  r.sessions = 3;
  r.connections = 16;
  r.schedule_seconds = 60;
  r.run_seconds = 60.5;
  r.offered = 300;
  r.sent = 299;
  r.dropped = 1;
  r.late = 4;
  r.cpu_user_seconds = 0.5;
  r.cpu_system_seconds = 0.25;
  r.transport_errors["timeout"] = 2;
  r.order = {"thoughts.get", "status"};
  Figures& get = r.requests["thoughts.get"];
  for (int i = 0; i < 200; ++i) get.latency_ns.Record(1'000'000);  // 1 ms
  get.status[200] = 198;
  get.status[503] = 2;
  get.unexpected = 2;
  Figures& status = r.requests["status"];
  for (int i = 0; i < 97; ++i) status.latency_ns.Record(3'000'000);
  status.status[200] = 97;
  status.transport_errors = 2;
  status.dropped = 1;
  PhaseReport p;
  p.name = "sustained";
  p.seconds = 60;
  p.target_per_minute = 300;
  p.offered = 300;
  p.sent = 299;
  p.figures = r.Overall();
  r.phases.push_back(p);
  r.preparation["login"].status[200] = 3;
  return r;
}

TEST_CASE("the JSON report has the figures scripts read") {
  const nlohmann::json j = ToJson(Sample());
  CHECK(j.at("histogram").get<std::string>().find("log-linear") != std::string::npos);
  CHECK(j.at("sessions") == 3);
  CHECK(j.at("offered") == 300);
  CHECK(j.at("sent") == 299);
  CHECK(j.at("late") == 4);
  CHECK(j.at("dropped") == 1);
  CHECK(j.at("achievedPerMinute").get<double>() == Approx(299));
  CHECK(j.at("transportErrors").at("total") == 2);
  CHECK(j.at("transportErrors").at("byKind").at("timeout") == 2);
  CHECK(j.at("cpu").at("userSeconds").get<double>() == Approx(0.5));
  CHECK(j.at("cpu").at("usPerRequest").get<double>() == Approx(0.75e6 / 299));

  const auto& all = j.at("overall");
  CHECK(all.at("count") == 299);  // 297 answered + 2 transport errors
  CHECK(all.at("status").at("200") == 295);
  CHECK(all.at("status5xx") == 2);
  CHECK(all.at("unexpected") == 2);
  CHECK(all.at("dropped") == 1);
  CHECK(all.at("p50Ms").get<double>() == Approx(1.0).epsilon(0.01));
  CHECK(all.at("p99Ms").get<double>() == Approx(3.0).epsilon(0.01));
  CHECK(all.at("maxMs").get<double>() == Approx(3.0));

  const auto& get = j.at("requests").at("thoughts.get");
  CHECK(get.at("count") == 200);
  CHECK(get.at("status").at("503") == 2);
  CHECK(get.at("p95Ms").get<double>() == Approx(1.0).epsilon(0.01));
  REQUIRE(j.at("phases").size() == 1);
  CHECK(j.at("phases").at(0).at("name") == "sustained");
  CHECK(j.at("phases").at(0).at("achievedPerMinute").get<double>() == Approx(299));
  CHECK(j.at("preparation").at("login").at("status").at("200") == 3);
}

TEST_CASE("the text report has a line per request, the totals and the figures lines") {
  const std::string text = ToText(Sample());
  CHECK(text.find("thoughts.get") < text.find("status "));
  CHECK(text.find("ALL") != std::string::npos);
  CHECK(text.find("figures scope=sustained offered=300 sent=299") != std::string::npos);
  CHECK(text.find("figures scope=ALL offered=300 sent=299 per_minute=299 answered=297") !=
        std::string::npos);
  CHECK(text.find("s5xx=2") != std::string::npos);
  CHECK(text.find("figures scope=generator cpu_s=0.750 late=4") != std::string::npos);
}

}  // namespace
}  // namespace spine::loadgen
