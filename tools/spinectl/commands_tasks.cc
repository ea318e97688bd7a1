// pipelines and runs: spine-tasks' PipelineService and RunService.
#include <unistd.h>

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "spine/v1/tasks.grpc.pb.h"
#include "tools/spinectl/commands.h"
#include "tools/spinectl/config.h"
#include "tools/spinectl/context.h"

namespace spine::spinectl {
namespace {

using spine::v1::PipelineService;
using spine::v1::Run;
using spine::v1::RunService;

// Runs have no push channel on the gRPC API: `watch` and `--wait` poll at this pace.
constexpr absl::Duration kPollInterval = absl::Milliseconds(250);

std::string StateName(Run::State state) { return Run::State_Name(state); }

bool Finished(Run::State state) {
  return state == Run::SUCCEEDED || state == Run::FAILED || state == Run::CANCELLED;
}

// ---------------------------------------------------------------------------------------------
// Pipelines

Table PipelineTable(const google::protobuf::RepeatedPtrField<spine::v1::Pipeline>& pipelines) {
  Table table{{"id", "name", "steps", "created"}, {}};
  for (const spine::v1::Pipeline& pipeline : pipelines) {
    auto steps = pipeline.definition().fields().find("steps");
    const int count = steps == pipeline.definition().fields().end()
                          ? 0
                          : steps->second.list_value().values_size();
    table.rows.push_back({std::to_string(pipeline.id()), pipeline.name(), std::to_string(count),
                          FormatTime(pipeline.create_time())});
  }
  return table;
}

absl::Status PrintPipeline(Context& context, const spine::v1::Pipeline& pipeline) {
  google::protobuf::RepeatedPtrField<spine::v1::Pipeline> one;
  *one.Add() = pipeline;
  return context.printer().Print(pipeline, PipelineTable(one), {std::to_string(pipeline.id())});
}

absl::Status CreateOrValidate(Context& context, const Args& args, bool validate_only) {
  spine::v1::CreatePipelineRequest request;
  request.set_name(args.positional().empty() ? "validate" : args.positional()[0]);
  request.set_validate_only(validate_only);
  absl::StatusOr<std::string> text = ReadInputFile(args.Get("file").value_or("-"));
  if (!text.ok()) return text.status();
  if (absl::Status parsed =
          ParseJson(*text, request.mutable_definition(), "the pipeline definition");
      !parsed.ok()) {
    return parsed;
  }
  spine::v1::Pipeline pipeline;
  if (absl::Status status = context.Unary(Service::kTasks, &PipelineService::Stub::CreatePipeline,
                                          request, &pipeline);
      !status.ok()) {
    return status;
  }
  if (validate_only && context.printer().format() == Format::kTable) {
    context.out() << "valid\n";
    return absl::OkStatus();
  }
  return PrintPipeline(context, pipeline);
}

absl::Status PipelinesList(Context& context, const Args& args) {
  spine::v1::ListPipelinesRequest request;
  absl::StatusOr<int32_t> page_size = ParseCount(args.Get("page-size"), "--page-size");
  if (!page_size.ok()) return page_size.status();
  request.set_page_size(*page_size);
  request.set_page_token(args.Get("page-token").value_or(""));
  spine::v1::ListPipelinesResponse response;
  if (absl::Status status =
          context.Unary(Service::kTasks, &PipelineService::Stub::ListPipelines, request, &response);
      !status.ok()) {
    return status;
  }
  std::vector<std::string> ids;
  for (const auto& pipeline : response.pipelines()) ids.push_back(std::to_string(pipeline.id()));
  absl::Status printed =
      context.printer().Print(response, PipelineTable(response.pipelines()), ids);
  if (printed.ok() && context.printer().format() == Format::kTable &&
      !response.next_page_token().empty()) {
    context.err() << "more: --page-token " << response.next_page_token() << "\n";
  }
  return printed;
}

absl::Status PipelinesGet(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "pipeline id");
  if (!id.ok()) return id.status();
  spine::v1::GetPipelineRequest request;
  request.set_id(*id);
  spine::v1::Pipeline pipeline;
  if (absl::Status status =
          context.Unary(Service::kTasks, &PipelineService::Stub::GetPipeline, request, &pipeline);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    absl::Status printed = PrintPipeline(context, pipeline);
    context.out() << "\n"
                  << ValueText([&] {
                       google::protobuf::Value value;
                       *value.mutable_struct_value() = pipeline.definition();
                       return value;
                     }())
                  << "\n";
    return printed;
  }
  return PrintPipeline(context, pipeline);
}

absl::Status PipelinesDelete(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "pipeline id");
  if (!id.ok()) return id.status();
  spine::v1::DeletePipelineRequest request;
  request.set_id(*id);
  google::protobuf::Empty empty;
  if (absl::Status status =
          context.Unary(Service::kTasks, &PipelineService::Stub::DeletePipeline, request, &empty);
      !status.ok()) {
    return status;
  }
  if (context.printer().format() == Format::kTable) {
    context.out() << "deleted pipeline " << *id << "\n";
    return absl::OkStatus();
  }
  return context.printer().Print(empty, {}, {std::to_string(*id)});
}

// ---------------------------------------------------------------------------------------------
// Runs

Table RunTable(const google::protobuf::RepeatedPtrField<Run>& runs) {
  Table table{{"id", "pipeline", "state", "steps", "created", "finished"}, {}};
  for (const Run& run : runs) {
    int done = 0;
    for (const Run::Step& step : run.steps()) done += step.state() == Run::SUCCEEDED ? 1 : 0;
    table.rows.push_back({std::to_string(run.id()), std::to_string(run.pipeline_id()),
                          StateName(run.state()), absl::StrCat(done, "/", run.steps_size()),
                          FormatTime(run.create_time()), FormatTime(run.finish_time())});
  }
  return table;
}

absl::Status PrintRun(Context& context, const Run& run) {
  if (context.printer().format() != Format::kTable) {
    return context.printer().Print(run, {}, {std::to_string(run.id())});
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"id", std::to_string(run.id())},
      {"pipeline", std::to_string(run.pipeline_id())},
      {"state", StateName(run.state())},
      {"created", FormatTime(run.create_time())},
      {"finished", FormatTime(run.finish_time())}};
  if (run.has_output()) fields.emplace_back("output", ValueText(run.output()));
  if (run.has_error()) {
    fields.emplace_back("error", absl::StrCat(run.error().message(), " (", run.error().code(), ", ",
                                              run.error().reason(), ")"));
  }
  context.out() << RenderTable(KeyValueTable(fields));
  if (run.steps_size() > 0) {
    Table steps{{"step", "state", "attempts", "started", "finished", "error"}, {}};
    for (const Run::Step& step : run.steps()) {
      steps.rows.push_back({step.id(), StateName(step.state()), std::to_string(step.attempts()),
                            FormatTime(step.start_time()), FormatTime(step.finish_time()),
                            step.has_error() ? step.error().reason() : ""});
    }
    context.out() << "\n" << RenderTable(steps);
  }
  return absl::OkStatus();
}

absl::StatusOr<Run> FetchRun(Context& context, int64_t id) {
  spine::v1::GetRunRequest request;
  request.set_id(id);
  Run run;
  if (absl::Status status =
          context.Unary(Service::kTasks, &RunService::Stub::GetRun, request, &run);
      !status.ok()) {
    return status;
  }
  return run;
}

// The exit status of a command that waited for a run: OK only when it succeeded.
absl::Status Outcome(const Run& run) {
  if (run.state() == Run::SUCCEEDED) return absl::OkStatus();
  return absl::AbortedError(absl::StrCat("run ", run.id(), " ended ", StateName(run.state()),
                                         run.has_error() ? ": " + run.error().message() : ""));
}

// Polls the run until it ends. `live`: print each step's state changes as they happen and a
// progress line on stderr (--json: the run on one line at every change).
absl::StatusOr<Run> Follow(Context& context, Run run, bool live) {
  std::map<std::string, Run::State> seen;
  const bool tty = isatty(STDERR_FILENO) != 0;
  std::string last_progress;
  while (true) {
    if (live) {
      bool changed = false;
      for (const Run::Step& step : run.steps()) {
        auto [it, added] = seen.emplace(step.id(), step.state());
        if (!added && it->second == step.state()) continue;
        it->second = step.state();
        changed = true;
        if (context.printer().format() == Format::kTable) {
          if (tty && !last_progress.empty()) context.err() << "\r\033[K" << std::flush;
          context.out() << "step " << step.id() << ": " << StateName(step.state())
                        << (step.attempts() > 1 ? absl::StrCat(" (attempt ", step.attempts(), ")")
                                                : "")
                        << (step.has_error() ? absl::StrCat(" ", step.error().reason()) : "")
                        << "\n"
                        << std::flush;
        }
      }
      if (context.printer().format() == Format::kJson && (changed || seen.empty())) {
        absl::StatusOr<std::string> line = ToJson(run);
        if (line.ok()) context.out() << *line << "\n" << std::flush;
        if (seen.empty()) seen.emplace("", Run::STATE_UNSPECIFIED);  // the first line only once
      }
      int done = 0;
      for (const Run::Step& step : run.steps()) done += Finished(step.state()) ? 1 : 0;
      const std::string progress = absl::StrCat("run ", run.id(), ": ", StateName(run.state()),
                                                ", ", done, "/", run.steps_size(), " steps done");
      if (context.printer().format() == Format::kTable && progress != last_progress) {
        context.err() << (tty ? "\r\033[K" : "") << progress << (tty ? "" : "\n") << std::flush;
        last_progress = progress;
      }
    }
    if (Finished(run.state())) break;
    absl::SleepFor(kPollInterval);
    absl::StatusOr<Run> next = FetchRun(context, run.id());
    if (!next.ok()) return next.status();
    run = *std::move(next);
  }
  if (live && tty && context.printer().format() == Format::kTable) context.err() << "\n";
  return run;
}

absl::Status RunsStart(Context& context, const Args& args) {
  absl::StatusOr<int64_t> pipeline_id = ParseId(args.positional()[0], "pipeline id");
  if (!pipeline_id.ok()) return pipeline_id.status();
  spine::v1::CreatePipelineRunRequest request;
  request.set_pipeline_id(*pipeline_id);
  request.set_idempotency_key(args.Get("idempotency-key").value_or(""));
  std::string input = "{}";
  if (auto inline_json = args.Get("input")) {
    input = *inline_json;
  } else if (auto file = args.Get("input-file")) {
    absl::StatusOr<std::string> read = ReadInputFile(*file);
    if (!read.ok()) return read.status();
    input = *std::move(read);
  }
  if (absl::Status parsed = ParseJson(input, request.mutable_input(), "the run input");
      !parsed.ok()) {
    return parsed;
  }
  Run run;
  if (absl::Status status =
          context.Unary(Service::kTasks, &RunService::Stub::CreatePipelineRun, request, &run);
      !status.ok()) {
    return status;
  }
  if (!args.Has("wait")) return PrintRun(context, run);
  absl::StatusOr<Run> finished = Follow(context, run, /*live=*/false);
  if (!finished.ok()) return finished.status();
  if (absl::Status printed = PrintRun(context, *finished); !printed.ok()) return printed;
  return Outcome(*finished);
}

absl::Status RunsGet(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "run id");
  if (!id.ok()) return id.status();
  absl::StatusOr<Run> run = FetchRun(context, *id);
  if (!run.ok()) return run.status();
  return PrintRun(context, *run);
}

absl::Status RunsList(Context& context, const Args& args) {
  spine::v1::ListRunsRequest request;
  if (auto pipeline = args.Get("pipeline")) {
    absl::StatusOr<int64_t> id = ParseId(*pipeline, "--pipeline");
    if (!id.ok()) return id.status();
    request.set_pipeline_id(*id);
  }
  request.set_state(args.Get("state").value_or(""));
  absl::StatusOr<int32_t> page_size = ParseCount(args.Get("page-size"), "--page-size");
  if (!page_size.ok()) return page_size.status();
  request.set_page_size(*page_size);
  request.set_page_token(args.Get("page-token").value_or(""));
  spine::v1::ListRunsResponse response;
  if (absl::Status status =
          context.Unary(Service::kTasks, &RunService::Stub::ListRuns, request, &response);
      !status.ok()) {
    return status;
  }
  std::vector<std::string> ids;
  for (const Run& run : response.runs()) ids.push_back(std::to_string(run.id()));
  absl::Status printed = context.printer().Print(response, RunTable(response.runs()), ids);
  if (printed.ok() && context.printer().format() == Format::kTable &&
      !response.next_page_token().empty()) {
    context.err() << "more: --page-token " << response.next_page_token() << "\n";
  }
  return printed;
}

absl::Status RunsWatch(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "run id");
  if (!id.ok()) return id.status();
  absl::StatusOr<Run> run = FetchRun(context, *id);
  if (!run.ok()) return run.status();
  absl::StatusOr<Run> finished = Follow(context, *std::move(run), /*live=*/true);
  if (!finished.ok()) return finished.status();
  if (context.printer().format() == Format::kQuiet) {
    context.out() << finished->id() << "\n";
  } else if (context.printer().format() == Format::kTable) {
    context.out() << "\n";
    if (absl::Status printed = PrintRun(context, *finished); !printed.ok()) return printed;
  }
  return Outcome(*finished);
}

absl::Status RunsCancel(Context& context, const Args& args) {
  absl::StatusOr<int64_t> id = ParseId(args.positional()[0], "run id");
  if (!id.ok()) return id.status();
  spine::v1::CancelRunRequest request;
  request.set_id(*id);
  Run run;
  if (absl::Status status =
          context.Unary(Service::kTasks, &RunService::Stub::CancelRun, request, &run);
      !status.ok()) {
    return status;
  }
  return PrintRun(context, run);
}

}  // namespace

void RegisterTaskCommands(Registry& registry) {
  const OptionSpec file = {"file", "FILE", "the definition as JSON (- for stdin, the default)"};
  registry.DescribeGroup({"pipelines"}, "Pipeline definitions");
  registry.Add(
      {{"pipelines", "create"},
       "NAME",
       "Create a pipeline from a JSON definition (docs/pipelines.md).",
       {file},
       1,
       1,
       [](Context& context, const Args& args) { return CreateOrValidate(context, args, false); }});
  registry.Add(
      {{"pipelines", "validate"},
       "[NAME]",
       "Check a definition as create would, without saving it.",
       {file},
       0,
       1,
       [](Context& context, const Args& args) { return CreateOrValidate(context, args, true); }});
  registry.Add(
      {{"pipelines", "list"}, "", "List your pipelines.", PagingOptions(), 0, 0, PipelinesList});
  registry.Add(
      {{"pipelines", "get"}, "ID", "Show a pipeline and its definition.", {}, 1, 1, PipelinesGet});
  registry.Add({{"pipelines", "delete"}, "ID", "Delete a pipeline.", {}, 1, 1, PipelinesDelete});

  registry.DescribeGroup({"runs"}, "Runs of pipelines");
  std::vector<OptionSpec> list_options = PagingOptions();
  list_options.push_back({"pipeline", "ID", "only runs of this pipeline"});
  list_options.push_back({"state", "STATE", "only runs in this state (QUEUED, RUNNING, ...)"});
  registry.Add({{"runs", "start"},
                "PIPELINE_ID",
                "Start a run of a pipeline. With --wait, wait until it ends (exit 0 only\n"
                "if it SUCCEEDED; 20 ABORTED otherwise).",
                {{"input", "JSON", "the run's input (default {})"},
                 {"input-file", "FILE", "read the input from FILE (- for stdin)"},
                 {"idempotency-key", "KEY", "the same key returns the first run"},
                 {"wait", "", "wait for the run to end"}},
                1,
                1,
                RunsStart});
  registry.Add({{"runs", "get"}, "ID", "Show a run and its steps.", {}, 1, 1, RunsGet});
  registry.Add(
      {{"runs", "list"}, "", "List your runs, newest first.", list_options, 0, 0, RunsList});
  registry.Add({{"runs", "watch"},
                "ID",
                "Follow a run until it ends: each step's state as it changes and a progress\n"
                "line (--json: the run on one line at each change). Exit 0 only if it\n"
                "SUCCEEDED.",
                {},
                1,
                1,
                RunsWatch});
  registry.Add({{"runs", "cancel"}, "ID", "Cancel a run.", {}, 1, 1, RunsCancel});
}

}  // namespace spine::spinectl
