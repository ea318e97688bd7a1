// The lines a worker's harness (harness.js) prints, parsed as untrusted input: the plugin runs
// in the same JavaScript realm as the harness and can print anything, so every line is checked
// for shape, id, nesting depth and size before any of it is believed.
//
// Free functions, no state: thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace spine::plugins {

// Error reasons of a failed invocation (docs/api.md, "Errors"). They ride on INTERNAL (the
// plugin failed), SANDBOX_VIOLATION on PERMISSION_DENIED; 502 at the edge.
inline constexpr char kPluginError[] = "PLUGIN_ERROR";
inline constexpr char kPluginCrashed[] = "PLUGIN_CRASHED";
inline constexpr char kPluginBadOutput[] = "PLUGIN_BAD_OUTPUT";
inline constexpr char kSandboxViolation[] = "SANDBOX_VIOLATION";
inline constexpr char kSandboxUnavailable[] = "SANDBOX_UNAVAILABLE";

// INTERNAL with reason PLUGIN_BAD_OUTPUT / PLUGIN_CRASHED, naming the plugin.
absl::Status BadOutput(absl::string_view plugin, absl::string_view why);
absl::Status Crashed(absl::string_view plugin, absl::string_view why);

// The first line a worker prints: OK when it is {"ready":true}; INTERNAL PLUGIN_ERROR with the
// plugin's message for {"fatal": ...} (it could not be loaded); PLUGIN_BAD_OUTPUT otherwise.
absl::Status ParseHello(absl::string_view plugin, absl::string_view line);

struct Answer {
  // The output as compact JSON, or INTERNAL with PLUGIN_ERROR (it threw) or PLUGIN_BAD_OUTPUT.
  absl::StatusOr<std::string> output = absl::UnknownError("not parsed");
  std::vector<std::string> logs{};  // at most 101 lines of at most 1000 bytes, valid UTF-8
  // False when the line was not an answer to this request at all: the worker must be ended.
  bool worker_ok = false;
};

// The answer line for request `id`, its output at most `max_output_bytes` of JSON.
Answer ParseAnswer(absl::string_view plugin, absl::string_view line, uint64_t id,
                   size_t max_output_bytes);

// `text` cut to at most `max` bytes without splitting a UTF-8 sequence, with any ill-formed
// UTF-8 replaced by U+FFFD (protobuf strings must be valid UTF-8).
std::string CleanText(absl::string_view text, size_t max);

}  // namespace spine::plugins
