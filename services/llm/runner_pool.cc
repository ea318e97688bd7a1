#include "services/llm/runner_pool.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "libs/rpc/error_info.h"

namespace spine::llm {

struct RunnerPool::Job {
  uint64_t id = 0;
  Model* model = nullptr;
  std::string user_id{};
  GenerateParams params{};
  Backend::OnDelta on_delta{};
  std::function<void(JobResult)> on_done{};
  absl::Time submitted{};  // MonotonicNow
  absl::Time started{};    // MonotonicNow, once running
  bool running = false;
  bool cancel_requested = false;
  bool model_timeout_first = false;  // the model's timeout, not the caller's, bounds the run
  TimerId deadline_timer = 0;        // while queued with a finite deadline
  // Shared with Apply, which calls Cancel on it outside the lock while `done` may erase the job.
  std::shared_ptr<Generation> generation{};
};

struct RunnerPool::Model {
  struct User {
    std::deque<uint64_t> queued{};  // job ids, oldest first
    int running = 0;
    uint64_t last_served = 0;  // sequence number of its last dispatch; 0: none yet
    uint64_t activated = 0;    // sequence number of when its queue last became non-empty
  };
  // Fairness order of the users with queued jobs: least recently served first; users never
  // served (0) before all others, in the order they started queueing.
  using Key = std::tuple<uint64_t, uint64_t, std::string>;

  const ModelConfig* config = nullptr;
  Backend* backend = nullptr;
  int running = 0;
  int queued = 0;
  // Users with queued or running jobs; the others are forgotten.
  absl::flat_hash_map<std::string, User> users{};
  std::set<Key> order{};
  // Moving average of how long a job runs, for the queue-full retry hint.
  absl::Duration average_run = absl::ZeroDuration();

  static Key KeyOf(const std::string& name, const User& user) {
    return {user.last_served, user.activated, name};
  }
  // Callers mutate a user between EraseKey and InsertKey, so `order` stays in step.
  void EraseKey(const std::string& name, const User& user) {
    if (!user.queued.empty()) order.erase(KeyOf(name, user));
  }
  void InsertKey(const std::string& name, const User& user) {
    if (!user.queued.empty()) order.insert(KeyOf(name, user));
  }
  void MaybeForget(const std::string& name) {
    auto it = users.find(name);
    if (it != users.end() && it->second.queued.empty() && it->second.running == 0) {
      users.erase(it);
    }
  }
};

struct RunnerPool::Effects {
  struct Start {
    uint64_t id = 0;
    Backend* backend = nullptr;
    GenerateParams params{};
    Backend::OnDelta on_delta{};
  };
  struct Finish {
    std::function<void(JobResult)> on_done{};
    JobResult result{};
  };
  std::vector<TimerId> cancel_timers{};
  std::vector<Start> starts{};
  std::vector<std::shared_ptr<Generation>> cancel_generations{};
  std::vector<Finish> finishes{};
};

void JobHandle::Cancel() const { pool_->Cancel(id_); }

absl::StatusOr<std::unique_ptr<RunnerPool>> RunnerPool::Create(
    std::vector<ModelConfig> models, const std::map<std::string, Backend*>& backends,
    Scheduler& scheduler, const Clock& clock) {
  std::set<std::string> names;
  for (const ModelConfig& model : models) {
    if (!names.insert(model.name).second) {
      return absl::InvalidArgumentError(absl::StrCat("model \"", model.name, "\" given twice"));
    }
    auto backend = backends.find(model.name);
    if (backend == backends.end() || backend->second == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("model \"", model.name, "\" has no backend"));
    }
    if (model.max_concurrency < 1 || model.queue_limit < 1) {
      return absl::InvalidArgumentError(absl::StrCat("model \"", model.name, "\": maxConcurrency ",
                                                     model.max_concurrency, " and queueLimit ",
                                                     model.queue_limit, " must be at least 1"));
    }
  }
  auto pool = absl::WrapUnique(new RunnerPool(std::move(models), scheduler, clock));
  absl::MutexLock lock(&pool->mu_);
  for (const ModelConfig& config : pool->models_) {
    auto model = std::make_unique<Model>();
    model->config = &config;
    model->backend = backends.at(config.name);
    pool->by_name_.emplace(config.name, std::move(model));
  }
  return pool;
}

RunnerPool::RunnerPool(std::vector<ModelConfig> models, Scheduler& scheduler, const Clock& clock)
    : models_(std::move(models)), scheduler_(scheduler), clock_(clock) {}

RunnerPool::~RunnerPool() {
  Effects effects;
  {
    absl::MutexLock lock(&mu_);
    closing_ = true;
    ++busy_;
    std::vector<Job*> jobs;
    jobs.reserve(jobs_.size());
    for (auto& [id, job] : jobs_) jobs.push_back(job.get());
    for (Job* job : jobs) {
      if (!job->running) {
        FailQueued(*job, absl::CancelledError("the LLM service is shutting down"), effects);
      } else if (!job->cancel_requested) {
        job->cancel_requested = true;
        if (job->generation) effects.cancel_generations.push_back(job->generation);
      }
    }
  }
  Apply(std::move(effects));
  // Running jobs end within 100 ms of Cancel (Backend contract); callbacks still in flight finish.
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &RunnerPool::Drained));
}

bool RunnerPool::Drained() const { return jobs_.empty() && busy_ == 0; }

absl::StatusOr<JobHandle> RunnerPool::Submit(JobRequest request) {
  Effects effects;
  uint64_t id = 0;
  {
    absl::MutexLock lock(&mu_);
    if (closing_) return absl::UnavailableError("the LLM service is shutting down");
    auto found = by_name_.find(request.model);
    if (found == by_name_.end()) {
      return absl::NotFoundError(absl::StrCat("model \"", request.model, "\" is not configured"));
    }
    Model& model = *found->second;
    if (request.params.deadline <= clock_.Now()) {
      return absl::DeadlineExceededError("the deadline passed before the request was queued");
    }
    if (model.running >= model.config->max_concurrency &&
        model.queued >= model.config->queue_limit) {
      return QueueFullError(model);
    }
    id = next_id_++;
    auto owned = std::make_unique<Job>();
    Job& job = *owned;
    job.id = id;
    job.model = &model;
    job.user_id = std::move(request.user_id);
    job.params = std::move(request.params);
    job.on_delta = std::move(request.on_delta);
    job.on_done = std::move(request.on_done);
    job.submitted = clock_.MonotonicNow();
    jobs_.emplace(id, std::move(owned));

    Model::User& user = model.users[job.user_id];
    model.EraseKey(job.user_id, user);
    if (user.queued.empty()) user.activated = next_seq_++;
    user.queued.push_back(id);
    model.InsertKey(job.user_id, user);
    ++model.queued;

    Dispatch(model, effects);
    if (!job.running && job.params.deadline != absl::InfiniteFuture()) {
      job.deadline_timer = scheduler_.RunAt(job.params.deadline, [this, id] { OnDeadline(id); });
    }
    ++busy_;
  }
  Apply(std::move(effects));
  return JobHandle(this, id);
}

std::vector<ModelStats> RunnerPool::Stats() const {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.MonotonicNow();
  std::vector<ModelStats> stats;
  stats.reserve(models_.size());
  for (const ModelConfig& config : models_) {
    const Model& model = *by_name_.at(config.name);
    ModelStats s{.name = config.name,
                 .backend = config.backend,
                 .max_concurrency = config.max_concurrency,
                 .queue_limit = config.queue_limit,
                 .queued = model.queued,
                 .running = model.running};
    for (const auto& [name, user] : model.users) {
      if (user.queued.empty()) continue;
      s.oldest_queued_age =
          std::max(s.oldest_queued_age, now - jobs_.at(user.queued.front())->submitted);
    }
    stats.push_back(std::move(s));
  }
  return stats;
}

void RunnerPool::Cancel(uint64_t id) {
  Effects effects;
  {
    absl::MutexLock lock(&mu_);
    auto found = jobs_.find(id);
    if (found == jobs_.end()) return;
    Job& job = *found->second;
    if (!job.running) {
      FailQueued(job, absl::CancelledError("cancelled while queued"), effects);
    } else if (!job.cancel_requested) {
      job.cancel_requested = true;
      // Without a generation yet, Apply cancels it as soon as Start returns it.
      if (job.generation) effects.cancel_generations.push_back(job.generation);
    }
    ++busy_;
  }
  Apply(std::move(effects));
}

void RunnerPool::OnDeadline(uint64_t id) {
  Effects effects;
  {
    absl::MutexLock lock(&mu_);
    auto found = jobs_.find(id);
    if (found == jobs_.end() || found->second->running) return;
    found->second->deadline_timer = 0;  // this one, which is running now
    FailQueued(*found->second, absl::DeadlineExceededError("the deadline passed while queued"),
               effects);
    ++busy_;
  }
  Apply(std::move(effects));
}

void RunnerPool::OnBackendDone(uint64_t id, absl::StatusOr<GenerateResult> result) {
  Effects effects;
  {
    absl::MutexLock lock(&mu_);
    auto found = jobs_.find(id);
    if (found == jobs_.end()) return;  // a backend calling done twice; the contract says once
    std::unique_ptr<Job> job = std::move(found->second);
    jobs_.erase(found);
    Model& model = *job->model;
    --model.running;
    --model.users[job->user_id].running;
    model.MaybeForget(job->user_id);

    const absl::Duration run = clock_.MonotonicNow() - job->started;
    model.average_run =
        model.average_run == absl::ZeroDuration() ? run : (model.average_run * 7 + run) / 8;
    if (!result.ok()) {
      result = NameModel(std::move(result).status(), *model.config, job->model_timeout_first);
    }
    effects.finishes.push_back({.on_done = std::move(job->on_done),
                                .result = {.result = std::move(result),
                                           .ran = true,
                                           .queue_wait = job->started - job->submitted,
                                           .run_duration = run}});
    if (!closing_) Dispatch(model, effects);
    ++busy_;
  }
  Apply(std::move(effects));
}

void RunnerPool::Unqueue(Model& model, Job& job, Effects& effects) {
  Model::User& user = model.users[job.user_id];
  model.EraseKey(job.user_id, user);
  user.queued.erase(std::find(user.queued.begin(), user.queued.end(), job.id));
  model.InsertKey(job.user_id, user);
  --model.queued;
  if (job.deadline_timer != 0) {
    // Cancelled after the lock is released: Scheduler::Cancel may wait for a running OnDeadline.
    effects.cancel_timers.push_back(job.deadline_timer);
    job.deadline_timer = 0;
  }
}

void RunnerPool::Dispatch(Model& model, Effects& effects) {
  const absl::Time now = clock_.Now();
  while (model.running < model.config->max_concurrency && !model.order.empty()) {
    const std::string user_id = std::get<2>(*model.order.begin());
    Job& job = *jobs_.at(model.users.at(user_id).queued.front());
    if (job.params.deadline <= now) {
      FailQueued(job, absl::DeadlineExceededError("the deadline passed while queued"), effects);
      continue;
    }
    Unqueue(model, job, effects);
    StartJob(model, job, effects);
  }
}

void RunnerPool::StartJob(Model& model, Job& job, Effects& effects) {
  Model::User& user = model.users[job.user_id];
  model.EraseKey(job.user_id, user);
  user.last_served = next_seq_++;
  ++user.running;
  model.InsertKey(job.user_id, user);
  ++model.running;

  job.running = true;
  job.started = clock_.MonotonicNow();
  job.params.backend_model = model.config->backend_model;
  const absl::Time model_deadline = clock_.Now() + model.config->timeout;
  job.model_timeout_first = model_deadline < job.params.deadline;
  job.params.deadline = std::min(job.params.deadline, model_deadline);
  effects.starts.push_back({.id = job.id,
                            .backend = model.backend,
                            .params = std::move(job.params),
                            .on_delta = job.on_delta});
}

void RunnerPool::FailQueued(Job& job, absl::Status status, Effects& effects) {
  Model& model = *job.model;
  Unqueue(model, job, effects);
  model.MaybeForget(job.user_id);
  effects.finishes.push_back({.on_done = std::move(job.on_done),
                              .result = {.result = std::move(status),
                                         .ran = false,
                                         .queue_wait = clock_.MonotonicNow() - job.submitted}});
  jobs_.erase(job.id);
}

void RunnerPool::Apply(Effects effects) {
  for (TimerId timer : effects.cancel_timers) scheduler_.Cancel(timer);
  for (Effects::Start& start : effects.starts) {
    const uint64_t id = start.id;
    std::shared_ptr<Generation> generation = start.backend->Start(
        start.params, std::move(start.on_delta), [this, id](absl::StatusOr<GenerateResult> result) {
          OnBackendDone(id, std::move(result));
        });
    absl::MutexLock lock(&mu_);
    auto found = jobs_.find(id);
    // Not found: `done` already came; the handle may be dropped without cancelling.
    if (found != jobs_.end()) {
      found->second->generation = generation;
      if (found->second->cancel_requested) effects.cancel_generations.push_back(generation);
    }
  }
  for (const std::shared_ptr<Generation>& generation : effects.cancel_generations) {
    generation->Cancel();
  }
  for (Effects::Finish& finish : effects.finishes) {
    if (finish.on_done) finish.on_done(std::move(finish.result));
  }
  absl::MutexLock lock(&mu_);
  --busy_;
}

absl::Status NameModel(absl::Status status, const ModelConfig& model, bool model_timeout_first) {
  if (absl::IsCancelled(status)) return status;
  if (absl::IsDeadlineExceeded(status) && !rpc::GetErrorInfo(status)) {
    // The caller's own deadline is the caller's to name (it knows its timeoutMs); the model's
    // limit is named here, for it is nobody's request.
    if (!model_timeout_first) return status;
    const int64_t ms = absl::ToInt64Milliseconds(model.timeout);
    return rpc::WithErrorInfo(
        absl::DeadlineExceededError(absl::StrCat("model '", model.name, "' exceeded its ", ms,
                                                 " ms timeout (timeoutMs in the models file)")),
        kGenerationTimeout, {{"model", model.name}, {"timeoutMs", absl::StrCat(ms)}});
  }
  std::optional<google::rpc::ErrorInfo> info = rpc::GetErrorInfo(status);
  if (!info)
    return absl::Status(status.code(),
                        absl::StrCat("model '", model.name, "': ", status.message()));
  (*info->mutable_metadata())["model"] = model.name;
  return rpc::AttachErrorInfo(
      absl::Status(status.code(), absl::StrCat("model '", model.name, "': ", status.message())),
      *info);
}

absl::Status RunnerPool::QueueFullError(const Model& model) const {
  // The time for the jobs ahead to drain, from the recent average run time; at least 1 s.
  const absl::Duration drain =
      model.average_run * (model.queued + model.running) / model.config->max_concurrency;
  const int64_t retry_after =
      std::clamp<int64_t>(absl::ToInt64Seconds(absl::Ceil(drain, absl::Seconds(1))), 1, 3600);
  return rpc::WithErrorInfo(
      absl::ResourceExhaustedError(
          absl::StrCat("model \"", model.config->name, "\" is busy: ", model.queued,
                       " requests queued (limit ", model.config->queue_limit, "), ", model.running,
                       " running; retry in ", retry_after, " s")),
      "QUEUE_FULL",
      {{"model", model.config->name}, {"retryAfterSeconds", absl::StrCat(retry_after)}});
}

}  // namespace spine::llm
