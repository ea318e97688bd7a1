#include "services/plugins/host/manifest.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/json_util.h"
#include "libs/core/status.h"
#include "services/plugins/sandbox/read_probe.h"
#include "services/plugins/sandbox/sandbox.h"

namespace spine::plugins {
namespace {

constexpr size_t kMaxManifestBytes = size_t{64} * 1024;
constexpr size_t kMaxDescriptionChars = 1024;
constexpr int kMaxPaths = 32;
constexpr int kMaxPorts = 16;
constexpr size_t kMaxFolderEntries = 10000;

absl::Status FieldError(absl::string_view field, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// The first 64 characters of a value, for messages.
std::string Shown(absl::string_view value) {
  return absl::StrCat("'", value.substr(0, 64), value.size() > 64 ? "...'" : "'");
}

std::optional<std::string> RealPath(const std::string& path) {
  std::array<char, PATH_MAX> resolved{};
  if (realpath(path.c_str(), resolved.data()) == nullptr) return std::nullopt;
  return std::string(resolved.data());
}

bool Inside(const std::string& path, const std::string& dir) {
  return path == dir || absl::StartsWith(path, dir + "/");
}

// A relative path with no '..' component (checked before anything touches the filesystem).
absl::Status CheckRelative(absl::string_view field, const std::string& path) {
  if (path.empty()) return FieldError(field, "must not be empty");
  if (path[0] == '/') return FieldError(field, absl::StrCat(Shown(path), " must be relative"));
  if (path.find('\0') != std::string::npos) return FieldError(field, "contains a NUL byte");
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      return FieldError(field, absl::StrCat(Shown(path), " must not contain '..'"));
    }
  }
  return absl::OkStatus();
}

// `path` (relative to `folder`) resolved with symlinks followed; it must exist and stay inside.
absl::StatusOr<std::string> ResolveInside(absl::string_view field, const std::string& folder,
                                          const std::string& path) {
  SPINE_RETURN_IF_ERROR(CheckRelative(field, path));
  std::optional<std::string> resolved = RealPath(folder + "/" + path);
  if (!resolved) {
    return FieldError(field, absl::StrCat(Shown(path), " does not exist in the plugin folder"));
  }
  if (!Inside(*resolved, folder)) {
    return FieldError(field, absl::StrCat(Shown(path), " leads outside the plugin folder"));
  }
  return *resolved;
}

// `path` with "." components and repeated slashes removed (lexically; ".." is refused earlier).
std::string Normalize(const std::string& path) {
  std::string out;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    absl::StrAppend(&out, "/", part);
  }
  return out.empty() ? "/" : out;
}

absl::StatusOr<std::string> WritePath(absl::string_view field, const std::string& own_dir,
                                      const std::string& path) {
  if (path.find('\0') != std::string::npos) return FieldError(field, "contains a NUL byte");
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part == "..") {
      return FieldError(field, absl::StrCat(Shown(path), " must not contain '..'"));
    }
  }
  const std::string full =
      Normalize(!path.empty() && path[0] == '/' ? path : absl::StrCat(own_dir, "/", path));
  if (!Inside(full, own_dir)) {
    return FieldError(field, absl::StrCat(Shown(path), " is outside the plugin's data directory"));
  }
  return full;
}

absl::Status CheckLimit(absl::string_view name, int32_t requested, int32_t def, int32_t ceiling,
                        int32_t* out) {
  if (requested == 0) {
    *out = def;
    return absl::OkStatus();
  }
  if (requested < 0 || requested > ceiling) {
    return FieldError(absl::StrCat("permissions.limits.", name),
                      absl::StrCat(requested, ", must be 1..", ceiling, " (absent: ", def, ")"));
  }
  *out = requested;
  return absl::OkStatus();
}

absl::Status CheckLimits(const spine::v1::PluginLimits& asked, const ManifestBounds& bounds,
                         PluginLimitValues* out) {
  const PluginLimitValues& d = bounds.defaults;
  const PluginLimitValues& c = bounds.ceilings;
  SPINE_RETURN_IF_ERROR(
      CheckLimit("timeoutMs", asked.timeout_ms(), d.timeout_ms, c.timeout_ms, &out->timeout_ms));
  SPINE_RETURN_IF_ERROR(
      CheckLimit("memoryMB", asked.memory_mb(), d.memory_mb, c.memory_mb, &out->memory_mb));
  SPINE_RETURN_IF_ERROR(CheckLimit("cpuSeconds", asked.cpu_seconds(), d.cpu_seconds, c.cpu_seconds,
                                   &out->cpu_seconds));
  SPINE_RETURN_IF_ERROR(CheckLimit("maxOutputKB", asked.max_output_kb(), d.max_output_kb,
                                   c.max_output_kb, &out->max_output_kb));
  return CheckLimit("concurrency", asked.concurrency(), d.concurrency, c.concurrency,
                    &out->concurrency);
}

// Every file under `folder` (symlinks not followed): one link each, owned by root or by this
// service's user, on the folder's own filesystem. Landlock allows reading by path, so a hard
// link in the folder to a file elsewhere, or a mount inside it, would hand that file to the
// plugin; a file owned by anyone else may be such a link that fs.protected_hardlinks let
// that user make.
// See LoadedPlugin::fingerprint. The folder passed CheckFolderFiles, so it holds a bounded
// number of entries, none a hard link or on another filesystem; symlinks are hashed as their
// target's text, not followed.
absl::StatusOr<std::string> Fingerprint(const LoadedPlugin& plugin) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("plugin folder: cannot start a SHA-256 digest");
  }
  auto update = [&](absl::string_view bytes) {
    // Each piece length-prefixed, so no two sequences of pieces hash alike.
    const uint64_t size = bytes.size();
    EVP_DigestUpdate(ctx.get(), &size, sizeof(size));
    EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
  };
  update(plugin.manifest.SerializeAsString());
  std::vector<std::string> files;
  std::error_code error;
  for (auto it = std::filesystem::recursive_directory_iterator(plugin.folder, error);
       !error && it != std::filesystem::recursive_directory_iterator(); it.increment(error)) {
    if (!it->is_directory(error)) files.push_back(it->path().string());
  }
  if (error) {
    return FieldError("plugin folder", absl::StrCat("cannot be listed: ", error.message()));
  }
  std::sort(files.begin(), files.end());
  std::array<char, 65536> buf{};
  for (const std::string& file : files) {
    update(file.substr(plugin.folder.size()));
    if (std::filesystem::is_symlink(file, error)) {
      update(std::filesystem::read_symlink(file, error).string());
      continue;
    }
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      return FieldError("plugin folder", absl::StrCat(Shown(file.substr(plugin.folder.size() + 1)),
                                                      " cannot be read"));
    }
    while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
      update(absl::string_view(buf.data(), static_cast<size_t>(in.gcount())));
    }
  }
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_DigestFinal_ex(ctx.get(), digest.data(), &length) != 1) {
    return absl::InternalError("plugin folder: cannot finish a SHA-256 digest");
  }
  return std::string(reinterpret_cast<const char*>(digest.data()), length);
}

absl::Status CheckFolderFiles(const std::string& folder) {
  struct stat top {};
  if (lstat(folder.c_str(), &top) != 0) {
    return absl::NotFoundError(absl::StrCat("plugin folder: ", std::strerror(errno)));
  }
  const uid_t service_uid = geteuid();
  std::vector<std::string> pending = {""};  // paths relative to `folder`
  size_t seen = 0;
  while (!pending.empty()) {
    const std::string relative = std::move(pending.back());
    pending.pop_back();
    const std::string path = relative.empty() ? folder : absl::StrCat(folder, "/", relative);
    std::error_code error;
    std::filesystem::directory_iterator it(path, error);
    if (error) {
      return FieldError("plugin folder",
                        absl::StrCat(Shown(relative), " cannot be listed: ", error.message()));
    }
    for (const std::filesystem::directory_entry& entry : it) {
      const std::string name = entry.path().filename().string();
      const std::string child = relative.empty() ? name : absl::StrCat(relative, "/", name);
      if (++seen > kMaxFolderEntries) {
        return FieldError("plugin folder",
                          absl::StrCat("more than ", kMaxFolderEntries, " files and directories"));
      }
      struct stat st {};
      if (lstat(entry.path().c_str(), &st) != 0) {
        return FieldError("plugin folder", absl::StrCat(Shown(child), ": ", std::strerror(errno)));
      }
      if (st.st_dev != top.st_dev) {
        return FieldError("plugin folder",
                          absl::StrCat(Shown(child), " is on another filesystem (a mount point)"));
      }
      if (st.st_uid != service_uid && st.st_uid != 0) {
        return FieldError("plugin folder",
                          absl::StrCat(Shown(child), " is owned by uid ", st.st_uid,
                                       "; plugin files must belong to root or to uid ", service_uid,
                                       " (this service)"));
      }
      if (S_ISDIR(st.st_mode)) {
        pending.push_back(child);
      } else if (st.st_nlink != 1) {
        return FieldError("plugin folder",
                          absl::StrCat(Shown(child), " has ", st.st_nlink,
                                       " hard links; a plugin's files must have exactly one (a "
                                       "hard link can reach a file outside the folder)"));
      }
    }
  }
  return absl::OkStatus();
}

// The entry opened as the sandbox's user, as its worker will: a folder on the way that user
// cannot enter, or an entry it cannot read, would fail every call with "Cannot find module".
absl::Status CheckSandboxCanRead(const LoadedPlugin& plugin) {
  const uid_t uid = sandbox::DefaultSandboxUid();
  absl::StatusOr<sandbox::ReadProbe> probe =
      sandbox::ProbeReadableAs(plugin.entry_path, uid, sandbox::DefaultSandboxGid());
  if (!probe.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "entry: could not check that the sandbox user can read it: ", probe.status().message()));
  }
  if (probe->readable) return absl::OkStatus();
  // Named relative to the plugin folder: error messages carry no host path (API.md).
  const std::string& at = probe->blocked_at;
  std::string what;
  if (at == plugin.entry_path) {
    what = absl::StrCat("the entry ", Shown(plugin.manifest.entry()));
  } else if (at == plugin.folder) {
    what = "the plugin folder";
  } else if (Inside(at, plugin.folder)) {
    what = absl::StrCat("the folder ", Shown(at.substr(plugin.folder.size() + 1)),
                        " in the plugin folder");
  } else {
    what = absl::StrCat("the folder ", Shown(std::filesystem::path(at).filename().string()),
                        " above the plugin folder");
  }
  std::string owner;
  struct stat st {};
  if (lstat(at.c_str(), &st) == 0) {
    owner = absl::StrFormat("owner uid %d, mode %04o: ", st.st_uid, st.st_mode & 07777);
  }
  return absl::FailedPreconditionError(absl::StrCat("entry: ", what,
                                                    " is not readable by the sandbox user ", uid,
                                                    " (", owner, std::strerror(probe->error), ")"));
}

}  // namespace

absl::StatusOr<LoadedPlugin> ParseManifest(const std::string& json, const std::string& folder,
                                           const ManifestBounds& bounds) {
  LoadedPlugin plugin;
  spine::v1::PluginManifest& m = plugin.manifest;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  if (auto parsed = google::protobuf::util::JsonStringToMessage(json, &m, options); !parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("plugin.json: ", std::string(parsed.message())));
  }
  std::optional<std::string> real_folder = RealPath(folder);
  if (!real_folder) return absl::NotFoundError(absl::StrCat("plugin folder not found"));
  plugin.folder = *real_folder;

  static const std::regex kName("^[a-z0-9][a-z0-9-]{0,63}$");
  if (!std::regex_match(m.name(), kName)) {
    return FieldError("name",
                      absl::StrCat(Shown(m.name()), " must match ^[a-z0-9][a-z0-9-]{0,63}$"));
  }
  // GET /api/plugins/list is the listing, so a plugin named "list" could never be read by name.
  if (m.name() == "list") {
    return FieldError("name", "\"list\" is reserved: /api/plugins/list is the list of plugins");
  }
  const std::string folder_name = std::filesystem::path(plugin.folder).filename().string();
  if (m.name() != folder_name) {
    return FieldError(
        "name", absl::StrCat(Shown(m.name()), " must be the folder's name ", Shown(folder_name)));
  }
  static const std::regex kSemver(
      "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)"
      "(-[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?(\\+[0-9A-Za-z-]+(\\.[0-9A-Za-z-]+)*)?$");
  if (m.version().size() > 64 || !std::regex_match(m.version(), kSemver)) {
    return FieldError("version", absl::StrCat(Shown(m.version()), " is not a semantic version"));
  }
  if (m.description().size() > kMaxDescriptionChars) {
    return FieldError("description", absl::StrCat(m.description().size(), " bytes, at most ",
                                                  kMaxDescriptionChars));
  }
  if (m.runtime() != "node") {
    return FieldError("runtime", absl::StrCat(Shown(m.runtime()), " must be \"node\""));
  }

  SPINE_ASSIGN_OR_RETURN(plugin.entry_path, ResolveInside("entry", plugin.folder, m.entry()));
  struct stat st {};
  if (stat(plugin.entry_path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return FieldError("entry", absl::StrCat(Shown(m.entry()), " is not a regular file"));
  }
  if (!absl::EndsWith(plugin.entry_path, ".js") && !absl::EndsWith(plugin.entry_path, ".cjs")) {
    return FieldError("entry", absl::StrCat(Shown(m.entry()), " must be a .js or .cjs file"));
  }

  const spine::v1::PluginPermissions& perms = m.permissions();
  if (perms.fs().read_size() > kMaxPaths || perms.fs().write_size() > kMaxPaths) {
    return FieldError("permissions.fs", absl::StrCat("at most ", kMaxPaths, " paths each"));
  }
  for (int i = 0; i < perms.fs().read_size(); ++i) {
    SPINE_ASSIGN_OR_RETURN(
        std::string path, ResolveInside(absl::StrCat("permissions.fs.read[", i, "]"), plugin.folder,
                                        perms.fs().read(i)));
    plugin.read_paths.push_back(std::move(path));
  }
  if (plugin.read_paths.empty()) {
    plugin.read_paths.push_back(plugin.folder);
  } else if (std::none_of(plugin.read_paths.begin(), plugin.read_paths.end(),
                          [&](const std::string& p) { return Inside(plugin.entry_path, p); })) {
    plugin.read_paths.push_back(plugin.entry_path);  // the harness must be able to load it
  }

  if (perms.fs().write_size() > 0) {
    if (bounds.data_dir.empty() || bounds.data_dir[0] != '/') {
      return FieldError("permissions.fs.write", "no absolute data directory is configured");
    }
    const std::string own_dir = Normalize(absl::StrCat(bounds.data_dir, "/", m.name()));
    for (int i = 0; i < perms.fs().write_size(); ++i) {
      SPINE_ASSIGN_OR_RETURN(
          std::string path,
          WritePath(absl::StrCat("permissions.fs.write[", i, "]"), own_dir, perms.fs().write(i)));
      // Nested write paths would let the plugin replace the inner one with a symlink.
      for (size_t j = 0; j < plugin.write_paths.size(); ++j) {
        if (Inside(path, plugin.write_paths[j]) || Inside(plugin.write_paths[j], path)) {
          return FieldError(absl::StrCat("permissions.fs.write[", i, "]"),
                            absl::StrCat(Shown(perms.fs().write(i)), " overlaps write[", j, "]"));
        }
      }
      plugin.write_paths.push_back(std::move(path));
    }
  }

  const auto& ports = perms.network().connect_ports();
  if (ports.size() > kMaxPorts) {
    return FieldError("permissions.network.connectPorts", absl::StrCat("at most ", kMaxPorts));
  }
  std::set<int32_t> seen;
  for (int i = 0; i < ports.size(); ++i) {
    if (ports[i] < 1 || ports[i] > 65535 || !seen.insert(ports[i]).second) {
      return FieldError(absl::StrCat("permissions.network.connectPorts[", i, "]"),
                        absl::StrCat(ports[i], ", must be a distinct port 1..65535"));
    }
    plugin.connect_ports.push_back(static_cast<uint16_t>(ports[i]));
  }

  SPINE_RETURN_IF_ERROR(CheckLimits(perms.limits(), bounds, &plugin.limits));
  plugin.data_quota_bytes = bounds.data_quota_bytes;
  spine::v1::PluginLimits* effective = m.mutable_permissions()->mutable_limits();
  effective->set_timeout_ms(plugin.limits.timeout_ms);
  effective->set_memory_mb(plugin.limits.memory_mb);
  effective->set_cpu_seconds(plugin.limits.cpu_seconds);
  effective->set_max_output_kb(plugin.limits.max_output_kb);
  effective->set_concurrency(plugin.limits.concurrency);
  return plugin;
}

absl::StatusOr<LoadedPlugin> LoadPlugin(const std::string& folder, const ManifestBounds& bounds) {
  const std::string path = folder + "/plugin.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("plugin.json: cannot be opened");
  std::string json;
  std::array<char, 4096> buf{};
  while (in.read(buf.data(), buf.size()) || in.gcount() > 0) {
    json.append(buf.data(), static_cast<size_t>(in.gcount()));
    if (json.size() > kMaxManifestBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("plugin.json: larger than ", kMaxManifestBytes, " bytes"));
    }
  }
  SPINE_ASSIGN_OR_RETURN(LoadedPlugin plugin, ParseManifest(json, folder, bounds));
  SPINE_RETURN_IF_ERROR(CheckFolderFiles(plugin.folder));
  SPINE_RETURN_IF_ERROR(CheckSandboxCanRead(plugin));
  SPINE_ASSIGN_OR_RETURN(plugin.fingerprint, Fingerprint(plugin));
  return plugin;
}

namespace {

// What a refused plugin's plugin.json says, for its listing: unknown fields ignored, the
// checks skipped, and empty when it cannot be read or parsed at all.
spine::v1::PluginManifest ReadManifestLeniently(const std::string& folder) {
  std::ifstream in(folder + "/plugin.json", std::ios::binary);
  std::string json(kMaxManifestBytes + 1, '\0');
  in.read(json.data(), static_cast<std::streamsize>(json.size()));
  json.resize(static_cast<size_t>(in.gcount()));
  spine::v1::PluginManifest manifest;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (json.size() > kMaxManifestBytes ||
      !google::protobuf::util::JsonStringToMessage(json, &manifest, options).ok()) {
    return {};
  }
  return manifest;
}

}  // namespace

absl::StatusOr<LoadedPlugins> LoadPluginsDir(const std::string& dir, const ManifestBounds& bounds) {
  std::error_code error;
  std::filesystem::directory_iterator it(dir, error);
  if (error) {
    return absl::NotFoundError(
        absl::StrCat("plugins directory ", Shown(dir), ": ", error.message()));
  }
  std::vector<std::filesystem::path> folders;
  for (const std::filesystem::directory_entry& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] == '.' || name[0] == '_') continue;
    if (!entry.is_directory(error)) continue;
    if (!std::filesystem::exists(entry.path() / "plugin.json", error)) continue;
    folders.push_back(entry.path());
  }
  std::sort(folders.begin(), folders.end());
  LoadedPlugins loaded;
  std::set<std::string> names;
  for (const std::filesystem::path& folder : folders) {
    absl::StatusOr<LoadedPlugin> plugin = LoadPlugin(folder.string(), bounds);
    if (plugin.ok() && !names.insert(plugin->manifest.name()).second) {
      // Two entries (symlinks) for one folder: the first one found wins.
      plugin = FieldError("name", absl::StrCat(Shown(plugin->manifest.name()),
                                               " is already loaded from another entry"));
    }
    if (plugin.ok()) {
      loaded.plugins.push_back(*std::move(plugin));
    } else {
      loaded.refused.push_back(RefusedPlugin{.name = folder.filename().string(),
                                             .manifest = ReadManifestLeniently(folder.string()),
                                             .why = plugin.status()});
    }
  }
  return loaded;
}

}  // namespace spine::plugins
