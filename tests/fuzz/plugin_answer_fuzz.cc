// Fuzz target for the worker protocol parsers (services/plugins/host/worker_protocol.h): the
// lines a sandboxed plugin can print in place of its harness's answer.
//
// Properties checked on every input:
//  - ParseHello, ParseAnswer and CleanText never crash;
//  - an accepted output is compact JSON of at most the limit, and every log line and error
//    message is valid UTF-8 of bounded size (they go into protobuf strings);
//  - CleanText's result is valid UTF-8 and never longer than asked.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/strings/string_view.h"
#include "libs/core/utf8.h"
#include "services/plugins/host/worker_protocol.h"

namespace {

void Fail(const char* what) {
  std::fprintf(stderr, "plugin_answer_fuzz: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Bytes from a fuzzer are a char buffer by contract.
  const absl::string_view line(reinterpret_cast<const char*>(data), size);
  (void)spine::plugins::ParseHello("fuzz", line);
  for (const uint64_t id : {uint64_t{1}, uint64_t{7}}) {
    const spine::plugins::Answer answer = spine::plugins::ParseAnswer("fuzz", line, id, 4096);
    if (answer.output.ok()) {
      if (answer.output->size() > 4096) Fail("output over the limit accepted");
      if (answer.output->find('\n') != std::string::npos) Fail("output spans lines");
    } else if (!spine::CheckUtf8(answer.output.status().message()).valid) {
      Fail("error message is not UTF-8");
    }
    if (answer.logs.size() > 101) Fail("too many log lines");
    for (const std::string& log : answer.logs) {
      if (log.size() > 1000 || !spine::CheckUtf8(log).valid) Fail("bad log line");
    }
  }
  for (const size_t max : {size_t{0}, size_t{3}, size_t{10}, size_t{1000}}) {
    const std::string clean = spine::plugins::CleanText(line, max);
    if (clean.size() > max || !spine::CheckUtf8(clean).valid) Fail("CleanText broke its contract");
  }
  return 0;
}
