// plugins: spine-plugins' PluginService.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "spine/v1/plugins.grpc.pb.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/config.h"
#include "tools/spinectl/context.h"

namespace spine::spinectl {
namespace {

using spine::v1::PluginService;

std::string StateName(spine::v1::Plugin::State state) {
  return spine::v1::Plugin::State_Name(state);
}

absl::Status List(Context& context, const Args& /*args*/) {
  spine::v1::ListPluginsResponse response;
  if (absl::Status status = context.Unary(Service::kPlugins, &PluginService::Stub::ListPlugins,
                                          spine::v1::ListPluginsRequest(), &response);
      !status.ok()) {
    return status;
  }
  Table table{{"name", "version", "state", "description"}, {}};
  std::vector<std::string> names;
  for (const spine::v1::Plugin& plugin : response.plugins()) {
    table.rows.push_back({plugin.name(), plugin.version(), StateName(plugin.state()),
                          Truncate(plugin.description(), 60)});
    names.push_back(plugin.name());
  }
  return context.printer().Print(response, table, names);
}

absl::Status Get(Context& context, const Args& args) {
  spine::v1::GetPluginRequest request;
  request.set_name(args.positional()[0]);
  spine::v1::Plugin plugin;
  if (absl::Status status =
          context.Unary(Service::kPlugins, &PluginService::Stub::GetPlugin, request, &plugin);
      !status.ok()) {
    return status;
  }
  const auto& limits = plugin.permissions().limits();
  std::vector<std::pair<std::string, std::string>> fields = {
      {"name", plugin.name()},
      {"version", plugin.version()},
      {"state", StateName(plugin.state())},
      {"runtime", plugin.runtime()},
      {"description", plugin.description()},
      {"limits", absl::StrCat("timeout ", limits.timeout_ms(), " ms, memory ", limits.memory_mb(),
                              " MB, cpu ", limits.cpu_seconds(), " s, output ",
                              limits.max_output_kb(), " KB, concurrency ", limits.concurrency())},
      {"network ports", absl::StrJoin(plugin.permissions().network().connect_ports(), ",")}};
  if (!plugin.load_error().empty()) fields.emplace_back("load error", plugin.load_error());
  return context.printer().Print(plugin, KeyValueTable(fields), {plugin.name()});
}

absl::Status Invoke(Context& context, const Args& args) {
  spine::v1::InvokePluginRequest request;
  request.set_name(args.positional()[0]);
  std::string input;
  if (auto inline_json = args.Get("input")) {
    input = *inline_json;
  } else {
    absl::StatusOr<std::string> read = ReadInputFile(args.Get("input-file").value_or("-"));
    if (!read.ok()) return read.status();
    input = *std::move(read);
  }
  if (absl::Status parsed = ParseJson(input, request.mutable_input(), "the plugin input");
      !parsed.ok()) {
    return parsed;
  }
  // The plugin's own time limit follows the caller's deadline, leaving room for the answer.
  const int64_t timeout_ms = absl::ToInt64Milliseconds(context.settings().timeout);
  request.set_timeout_ms(static_cast<int32_t>(std::clamp<int64_t>(timeout_ms - 500, 1, 60000)));
  spine::v1::InvokePluginResponse response;
  if (absl::Status status =
          context.Unary(Service::kPlugins, &PluginService::Stub::InvokePlugin, request, &response);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << ValueText(response.output()) << "\n";
    for (const std::string& line : response.logs()) context.err() << "log: " << line << "\n";
    return absl::OkStatus();
  }
  return context.printer().Print(response, {}, {ValueText(response.output())});
}

absl::Status Reload(Context& context, const Args& /*args*/) {
  spine::v1::ReloadPluginsResponse response;
  if (absl::Status status = context.Unary(Service::kPlugins, &PluginService::Stub::ReloadPlugins,
                                          spine::v1::ReloadPluginsRequest(), &response);
      !status.ok()) {
    return status;
  }
  std::vector<std::string> failed;
  for (const auto& plugin : response.failed()) failed.push_back(plugin.name());
  const Table table = KeyValueTable({{"added", absl::StrJoin(response.added(), ",")},
                                     {"replaced", absl::StrJoin(response.replaced(), ",")},
                                     {"removed", absl::StrJoin(response.removed(), ",")},
                                     {"unchanged", absl::StrJoin(response.unchanged(), ",")},
                                     {"failed", absl::StrJoin(failed, ",")}});
  return context.printer().Print(response, table, {});
}

}  // namespace

void RegisterPluginCommands(Registry& registry) {
  registry.DescribeGroup({"plugins"}, "Sandboxed plugins");
  registry.Add({{"plugins", "list"}, "", "List the plugins and their state.", {}, 0, 0, List});
  registry.Add({{"plugins", "get"}, "NAME", "Show a plugin and its limits.", {}, 1, 1, Get});
  registry.Add({{"plugins", "invoke"},
                "NAME",
                "Invoke a plugin with a JSON input from --input, --input-file or stdin and\n"
                "print its output (its logs go to stderr).",
                {{"input", "JSON", "the input itself"},
                 {"input-file", "FILE", "read the input from FILE (- for stdin, the default)"}},
                1,
                1,
                Invoke});
  registry.Add({{"plugins", "reload"},
                "",
                "Re-read the plugins folder without a restart (admin).",
                {},
                0,
                0,
                Reload});
}

}  // namespace spine::spinectl
