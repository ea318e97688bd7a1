// Plugin manifests (plugin.json): strict parsing into spine.v1.PluginManifest, the checks the
// plugins issue sets on every field, and the loader that scans SPINE_PLUGINS_DIR.
//
// A manifest is parsed with protobuf's JSON mapping, unknown fields refused. Then: `name`
// matches ^[a-z0-9][a-z0-9-]{0,63}$, is not "list" (reserved by the route that lists plugins),
// and is the folder's name; `version` is semver; `runtime` is
// "node"; `entry` is a relative path to a regular file that resolves (symlinks followed) inside
// the folder; `permissions.fs.read` paths resolve inside the folder (default: the folder);
// `permissions.fs.write` paths lie inside the plugin's own data directory
// <data_dir>/<name> (relative paths are taken from there); `permissions.network.connectPorts`
// are 1..65535; each `permissions.limits` field is 0 (the default) or 1..its ceiling.
// Errors are INVALID_ARGUMENT and start with the field's JSON path.
//
// Free functions, no state: thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spine/v1/plugins.pb.h"

namespace spine::plugins {

// Values of the five limits (the same fields as PluginLimits, as plain numbers).
struct PluginLimitValues {
  int32_t timeout_ms = 5000;
  int32_t memory_mb = 128;
  int32_t cpu_seconds = 10;
  int32_t max_output_kb = 256;
  int32_t concurrency = 2;
};

// What a manifest may ask for, from the config.
struct ManifestBounds {
  PluginLimitValues defaults{};
  PluginLimitValues ceilings{.timeout_ms = 60000,
                             .memory_mb = 1024,
                             .cpu_seconds = 60,
                             .max_output_kb = 4096,
                             .concurrency = 16};
  // Each plugin may write only under <data_dir>/<name> (SPINE_DATA_DIR/plugins).
  std::string data_dir{};
  // What its write paths may hold on disk together (SPINE_PLUGINS_DATA_QUOTA_MB).
  uint64_t data_quota_bytes = uint64_t{64} << 20;
};

// A plugin that passed every check, with its paths resolved to absolute, symlink-free ones.
struct LoadedPlugin {
  // As written, except that permissions.limits holds the effective limits.
  spine::v1::PluginManifest manifest{};
  std::string folder{};                    // realpath of the plugin's folder
  std::string entry_path{};                // realpath of the entry file
  std::vector<std::string> read_paths{};   // what the worker may read (the folder by default)
  std::vector<std::string> write_paths{};  // inside <data_dir>/<name>; may not exist yet
  std::vector<uint16_t> connect_ports{};
  PluginLimitValues limits{};
  uint64_t data_quota_bytes = 0;  // from the bounds; enforced by the worker (worker.h)
  // SHA-256 over the effective manifest and the path and contents of every file of the folder
  // (LoadPlugin only): equal fingerprints, same plugin, so a reload keeps it as it runs.
  std::string fingerprint{};
};

// Checks `json` (the contents of `folder`/plugin.json) against every rule above.
absl::StatusOr<LoadedPlugin> ParseManifest(const std::string& json, const std::string& folder,
                                           const ManifestBounds& bounds);

// Reads and checks `folder`/plugin.json (at most 64 KiB), then every file under the folder:
// each must have exactly one link, belong to root or to this service's user, and lie on the
// folder's filesystem (no mount points), at most 10 000 entries; otherwise INVALID_ARGUMENT
// "plugin folder: '<path>' ..." naming the file and why. Last, the sandbox's user must be able
// to open the entry, as its worker will (sandbox/read_probe.h): otherwise FAILED_PRECONDITION
// "entry: <what> is not readable by the sandbox user <uid> (owner uid <uid>, mode <mode>: <why>)"
// naming the folder on the way, or the file, that stops it (relative to the plugin folder).
absl::StatusOr<LoadedPlugin> LoadPlugin(const std::string& folder, const ManifestBounds& bounds);

// A plugin folder the loader refused. It is listed as FAILED with `why`, and invoking it
// answers PLUGIN_LOAD_FAILED, so that a broken plugin is seen rather than missing.
struct RefusedPlugin {
  std::string name{};  // the folder's (entry's) name, which a valid manifest's name must equal
  // What could be read of plugin.json (unknown fields ignored), for version and description;
  // empty when even that failed.
  spine::v1::PluginManifest manifest{};
  absl::Status why{};
};

struct LoadedPlugins {
  std::vector<LoadedPlugin> plugins{};  // sorted by name
  // Folders that were refused, with why, sorted by name; the others load regardless.
  std::vector<RefusedPlugin> refused{};
};

// Every sub-folder of `dir` holding a plugin.json (folders starting with '.' or '_' are skipped).
// NOT_FOUND when `dir` cannot be listed.
absl::StatusOr<LoadedPlugins> LoadPluginsDir(const std::string& dir, const ManifestBounds& bounds);

}  // namespace spine::plugins
