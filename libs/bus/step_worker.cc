#include "libs/bus/step_worker.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "libs/bus/step_protocol.h"
#include "libs/core/log.h"
#include "libs/rpc/request_id.h"

namespace spine::bus {
namespace {

using spine::v1::StepJob;
using spine::v1::StepResult;

}  // namespace

absl::StatusOr<std::unique_ptr<StepWorker>> StepWorker::Start(std::shared_ptr<grpc::Channel> bus,
                                                              StepWorkerOptions options,
                                                              StepRunner& runner) {
  if (options.kind != kLlmStepKind && options.kind != kPluginStepKind) {
    return absl::InvalidArgumentError(absl::StrCat("kind: '", options.kind, "'"));
  }
  if (options.executor_name.empty() || options.service_token.empty() || options.concurrency < 1 ||
      options.advertise_every <= absl::ZeroDuration() || options.result_cache < 1) {
    return absl::InvalidArgumentError("step worker: incomplete options");
  }
  std::unique_ptr<StepWorker> worker(new StepWorker(std::move(bus), std::move(options), runner));
  const StepWorkerOptions& o = worker->options_;
  StepWorker* raw = worker.get();
  auto jobs = Consumer::Start(
      worker->bus_,
      ConsumerOptions{.queue = StepQueue(o.kind),
                      .consumer_name = o.executor_name,
                      .service_token = o.service_token,
                      .concurrency = o.concurrency,
                      .credits = o.concurrency,
                      // A step job can take minutes; inProgress keeps it while it runs.
                      .ack_deadline = absl::Seconds(60),
                      // Redelivered jobs reach HandleJob, which answers them from its cache.
                      .skip_handled = false,
                      // Subscribed: the bus is up, and spine-tasks may be new; tell it now.
                      .on_subscribed =
                          [raw] {
                            absl::MutexLock lock(&raw->mu_);
                            raw->advertise_now_ = true;
                          }},
      [raw](const ReceivedMessage& message) { return raw->HandleJob(message); });
  if (!jobs.ok()) return jobs.status();
  worker->jobs_ = *std::move(jobs);
  auto cancels =
      Consumer::Start(worker->bus_,
                      ConsumerOptions{.queue = StepCancelQueue(o.kind),
                                      .consumer_name = o.executor_name,
                                      .service_token = o.service_token},
                      [raw](const ReceivedMessage& message) { return raw->HandleCancel(message); });
  if (!cancels.ok()) return cancels.status();
  worker->cancels_ = *std::move(cancels);
  worker->advertiser_ = std::thread([raw] { raw->AdvertiseLoop(); });
  return worker;
}

StepWorker::StepWorker(std::shared_ptr<grpc::Channel> bus, StepWorkerOptions options,
                       StepRunner& runner)
    : bus_(std::move(bus)),
      options_(std::move(options)),
      runner_(runner),
      publisher_(bus_, PublisherOptions{.service_token = options_.service_token}) {}

StepWorker::~StepWorker() { Stop(); }

void StepWorker::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  // Running jobs end (CANCELLED) so the consumer's Stop, which waits for its handlers, is quick;
  // their deliveries go back to the bus unacknowledged and run again elsewhere or after restart.
  running_.CancelAll();
  if (cancels_) cancels_->Stop();
  if (jobs_) jobs_->Stop();
  if (advertiser_.joinable()) advertiser_.join();
}

absl::Status StepWorker::HandleJob(const ReceivedMessage& message) {
  // Nothing can be answered for a job that cannot be read; the bus dead-letters it.
  absl::StatusOr<StepJob> parsed = ParseStepJob(message.payload);
  if (!parsed.ok()) return parsed.status();
  const StepJob& job = *parsed;
  // The job's work is the run's request: this thread's logs and calls carry its id.
  const rpc::RequestIdScope request(job.request_id());
  log::Info("step job received", {{"job", job.job_id()},
                                  {"attempt", std::to_string(message.attempt)},
                                  {"request_id", rpc::CurrentRequestId()}});
  std::optional<StepResult> cached;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = results_.find(job.job_id()); it != results_.end()) cached = it->second;
  }
  if (cached) return Publish(*cached, message.delivery_id);
  StepResult result;
  result.set_job_id(job.job_id());
  result.set_run_id(job.run_id());
  result.set_step_index(job.step_index());
  result.set_attempt(job.attempt());
  if (StepDeadlineOf(job) <= absl::Now()) {
    *result.mutable_error() = StepErrorOf(
        absl::DeadlineExceededError("the step's deadline passed before it could start"));
  } else {
    absl::StatusOr<google::protobuf::Value> output = Run(job);
    bool stopping = false;
    {
      absl::MutexLock lock(&mu_);
      stopping = stopping_;
    }
    // Cancelled by Stop, not by the engine: leave it for redelivery rather than report it.
    if (stopping && !output.ok() && output.status().code() == absl::StatusCode::kCancelled) {
      return output.status();
    }
    if (output.ok()) {
      *result.mutable_output() = *std::move(output);
    } else {
      *result.mutable_error() = StepErrorOf(output.status());
    }
  }
  log::Info("step job done", {{"job", job.job_id()},
                              {"ok", result.has_error() ? "false" : "true"},
                              {"request_id", rpc::CurrentRequestId()}});
  Remember(result);
  return Publish(result, message.delivery_id);
}

absl::StatusOr<google::protobuf::Value> StepWorker::Run(const StepJob& job) {
  // Shared with the callback: Notify may still be inside the notification when the wait
  // returns, so it must not live on this stack.
  struct Completion {
    absl::Notification finished;
    absl::StatusOr<google::protobuf::Value> output = absl::UnknownError("not run");
  };
  auto completion = std::make_shared<Completion>();
  // Begun before the runner is asked, so a cancel that comes while it starts the job is kept.
  running_.Begin(job.job_id());
  {
    // Checked after Begin: Stop sets stopping_ before it stops the jobs that have begun.
    absl::MutexLock lock(&mu_);
    if (stopping_) {
      running_.End(job.job_id());
      return absl::CancelledError("step worker: stopping");
    }
  }
  absl::StatusOr<StopFn> stop =
      runner_.Start(job, [completion](absl::StatusOr<google::protobuf::Value> answer) {
        completion->output = std::move(answer);
        completion->finished.Notify();
      });
  if (!stop.ok()) {
    running_.End(job.job_id());
    return stop.status();
  }
  running_.Attach(job.job_id(), *std::move(stop));
  // The runner bounds the job by its deadline; this thread is one of `concurrency`.
  completion->finished.WaitForNotification();
  running_.End(job.job_id());
  return std::move(completion->output);
}

absl::Status StepWorker::HandleCancel(const ReceivedMessage& message) {
  absl::StatusOr<spine::v1::StepCancel> cancel = ParseStepCancel(message.payload);
  if (!cancel.ok()) return cancel.status();
  running_.Cancel(cancel->job_id());
  return absl::OkStatus();
}

absl::Status StepWorker::Publish(const StepResult& result, const std::string& delivery_id) {
  // The result's id is derived from the job's, so publishing it again is stored once. It answers
  // the job's delivery: the bus accepts it only while this executor holds that delivery, and
  // tells spine-tasks which job it answers (in_reply_to), so nobody else can answer for it.
  absl::StatusOr<Published> published = publisher_.Publish(
      kStepResultsQueue, {OutgoingMessage{.id = absl::StrCat(result.job_id(), "/result"),
                                          .payload = result.SerializeAsString(),
                                          .headers = {},
                                          .reply_to_delivery_id = delivery_id}});
  if (!published.ok()) {
    log::Warn("step result not published; the job will be delivered again",
              {{"job", result.job_id()}, {"error", std::string(published.status().message())}});
    return published.status();
  }
  return absl::OkStatus();
}

void StepWorker::Remember(const StepResult& result) {
  absl::MutexLock lock(&mu_);
  if (!results_.emplace(result.job_id(), result).second) return;
  result_order_.push_back(result.job_id());
  while (result_order_.size() > options_.result_cache) {
    results_.erase(result_order_.front());
    result_order_.pop_front();
  }
}

void StepWorker::AdvertiseLoop() {
  absl::Duration ttl = options_.advertise_every * 3;
  while (true) {
    spine::v1::ExecutorAdvertisement ad;
    ad.set_executor(options_.executor_name);
    ad.set_kind(options_.kind);
    for (const std::string& name : runner_.Names()) ad.add_names(name);
    ad.set_ttl_ms(static_cast<int32_t>(absl::ToInt64Milliseconds(ttl)));
    const absl::StatusOr<Published> published = publisher_.Publish(
        kExecutorAdvertiseQueue, {OutgoingMessage{.id = Publisher::NewMessageId(),
                                                  .payload = ad.SerializeAsString(),
                                                  .headers = {},
                                                  .reply_to_delivery_id = {}}});
    if (!published.ok()) {
      log::Debug("advertisement not published",
                 {{"error", std::string(published.status().message())}});
    }
    const absl::Duration wait = published.ok()
                                    ? options_.advertise_every
                                    : std::min(options_.advertise_every, kAdvertiseRetry);
    absl::MutexLock lock(&mu_);
    auto woken = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_ || advertise_now_; };
    mu_.AwaitWithTimeout(absl::Condition(&woken), wait);
    if (stopping_) return;
    advertise_now_ = false;
  }
}

}  // namespace spine::bus
