#include "tools/spinectl/app.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/context.h"
#include "tools/spinectl/output.h"

namespace spine::spinectl {
namespace {

std::vector<OptionSpec> GlobalOptions() {
  std::vector<OptionSpec> options = {
      {"json", "", "print the result as JSON (the proto JSON mapping)"},
      {"quiet", "", "print only ids (or names), one a line"},
      {"timeout", "DURATION", "deadline of each call (default 10s; also $SPINECTL_TIMEOUT)"},
      {"config", "FILE",
       "settings file in .env syntax (default $XDG_CONFIG_HOME/spine/spinectl.conf)"},
      {"ca-file", "FILE", "PEM CA to verify the services' TLS certificates ($SPINECTL_CA_FILE)"},
  };
  for (Service service : kAllServices) {
    const std::string name = ServiceName(service);
    options.push_back({name + "-addr", "HOST:PORT",
                       absl::StrCat("gRPC address of spine-", name, " ($",
                                    ServiceAddressVariable(service), ")")});
  }
  return options;
}

}  // namespace

Registry BuildRegistry() {
  Registry registry(GlobalOptions());
  RegisterSessionCommands(registry);
  RegisterThoughtCommands(registry);
  RegisterLlmCommands(registry);
  RegisterPluginCommands(registry);
  RegisterTaskCommands(registry);
  RegisterAdminCommands(registry);
  registry.DescribeGroup({"completion"}, "Shell completion scripts");
  registry.Add({{"completion", "bash"},
                "",
                "Print the bash completion script: source <(spinectl completion bash)",
                {},
                0,
                0,
                nullptr});
  return registry;
}

int Run(const std::vector<std::string>& words, const Getenv& getenv, std::ostream& out,
        std::ostream& err) {
  const Registry registry = BuildRegistry();
  absl::StatusOr<Invocation> invocation = Parse(registry, words);
  if (!invocation.ok()) {
    err << FormatError(invocation.status()) << "\n";
    return ExitCode(invocation.status());
  }
  if (invocation->help || invocation->command == nullptr) {
    // A bare group is a request for its help, but not a successful command.
    (invocation->help ? out : err) << registry.Help(invocation->path);
    return invocation->help ? 0 : 2;
  }
  if (invocation->path == std::vector<std::string>{"completion", "bash"}) {
    out << registry.BashCompletion();
    return 0;
  }
  const Args& args = invocation->args;
  if (args.Has("json") && args.Has("quiet")) {
    const absl::Status error = UsageError("--json and --quiet exclude each other");
    err << FormatError(error) << "\n";
    return ExitCode(error);
  }
  SettingFlags flags;
  for (Service service : kAllServices) {
    flags.addresses[static_cast<size_t>(service)] =
        args.Get(absl::StrCat(ServiceName(service), "-addr")).value_or("");
  }
  flags.ca_file = args.Get("ca-file").value_or("");
  flags.timeout = args.Get("timeout").value_or("");
  flags.config_file = args.Get("config").value_or("");
  absl::StatusOr<Settings> settings = ResolveSettings(flags, getenv);
  if (!settings.ok()) {
    err << FormatError(settings.status()) << "\n";
    return ExitCode(settings.status());
  }
  const Format format = args.Has("json")    ? Format::kJson
                        : args.Has("quiet") ? Format::kQuiet
                                            : Format::kTable;
  Context context(*std::move(settings), format, out, err);
  const absl::Status status = invocation->command->handler(context, args);
  out.flush();
  if (!status.ok()) err << FormatError(status) << "\n";
  return ExitCode(status);
}

}  // namespace spine::spinectl
