#include "services/llm/backends/stub_backend.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"

namespace spine::llm {
namespace {

constexpr std::array<const char*, 32> kWords = {
    "the",    "quiet",  "river",   "carries", "light",  "across", "stone",   "and",
    "memory", "a",      "garden",  "of",      "small",  "bright", "ideas",   "waits",
    "under",  "every",  "careful", "answer",  "while",  "spine",  "thought", "grows",
    "slowly", "toward", "clear",   "morning", "signal", "from",   "distant", "servers"};

uint64_t Fnv1a(absl::string_view text) {
  uint64_t hash = 1469598103934665603ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ULL;
  }
  return hash;
}

uint64_t SplitMix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// One generation's state. Owned jointly by its handle and its pending scheduler task, so the
// handle may be dropped while the generation goes on.
class StubGeneration final : public std::enable_shared_from_this<StubGeneration> {
 public:
  StubGeneration(std::vector<std::string> tokens, std::string finish_reason, int prompt_tokens,
                 absl::Time first_due, absl::Duration per_token, absl::Time deadline,
                 Backend::OnDelta on_delta, Backend::OnDone on_done, Scheduler& scheduler,
                 const Clock& clock)
      : tokens_(std::move(tokens)),
        finish_reason_(std::move(finish_reason)),
        prompt_tokens_(prompt_tokens),
        per_token_(per_token),
        deadline_(deadline),
        on_delta_(std::move(on_delta)),
        scheduler_(scheduler),
        clock_(clock),
        next_due_(first_due),
        on_done_(std::move(on_done)) {}

  void Begin() {
    absl::MutexLock lock(&mu_);
    ScheduleStep(std::min(next_due_, deadline_));
  }

  void Cancel() {
    TimerId pending = 0;
    {
      absl::MutexLock lock(&mu_);
      if (done_ || cancelled_) return;
      cancelled_ = true;
      pending = timer_;
      timer_ = 0;
    }
    // Outside the lock: Cancel may wait for a running Step, which takes the lock.
    if (pending != 0) scheduler_.Cancel(pending);
    absl::MutexLock lock(&mu_);
    if (!done_) ScheduleStep(clock_.Now());
  }

 private:
  void ScheduleStep(absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    timer_ = scheduler_.RunAt(at, [self = shared_from_this()] { self->Step(); });
  }

  // Emits the tokens that are due, then finishes or waits for the next one.
  void Step() {
    size_t first = 0;
    size_t end = 0;
    std::optional<absl::StatusOr<GenerateResult>> result;
    Backend::OnDone on_done;
    {
      absl::MutexLock lock(&mu_);
      if (done_) return;
      timer_ = 0;
      const absl::Time now = clock_.Now();
      first = next_;
      if (cancelled_) {
        result = absl::CancelledError("generation cancelled");
      } else {
        while (next_ < tokens_.size() && next_due_ <= now && next_due_ < deadline_) {
          ++next_;
          next_due_ += per_token_;
        }
        if (next_ == tokens_.size()) {
          GenerateResult done;
          for (const std::string& token : tokens_) done.text += token;
          done.finish_reason = finish_reason_;
          done.prompt_tokens = prompt_tokens_;
          done.completion_tokens = static_cast<int>(tokens_.size());
          result = std::move(done);
        } else if (now >= deadline_) {
          result = absl::DeadlineExceededError("stub generation passed its deadline");
        } else {
          ScheduleStep(std::min(next_due_, deadline_));
        }
      }
      end = next_;
      if (result) {
        done_ = true;
        on_done = std::move(on_done_);
      }
    }
    // Tasks of one generation never overlap (the scheduler runs one at a time), so deltas keep
    // their order even though they are sent outside the lock.
    if (on_delta_) {
      for (size_t i = first; i < end; ++i) on_delta_(tokens_[i]);
    }
    if (result) on_done(*std::move(result));
  }

  const std::vector<std::string> tokens_;
  const std::string finish_reason_;
  const int prompt_tokens_;
  const absl::Duration per_token_;
  const absl::Time deadline_;
  const Backend::OnDelta on_delta_;
  Scheduler& scheduler_;
  const Clock& clock_;

  absl::Mutex mu_;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // the next token to send
  absl::Time next_due_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;  // the pending Step, 0 for none
  Backend::OnDone on_done_ ABSL_GUARDED_BY(mu_);
};

class StubHandle final : public Generation {
 public:
  explicit StubHandle(std::shared_ptr<StubGeneration> generation)
      : generation_(std::move(generation)) {}
  void Cancel() override { generation_->Cancel(); }

 private:
  std::shared_ptr<StubGeneration> generation_;
};

}  // namespace

StubBackend::StubBackend(StubTimings timings, Scheduler& scheduler, const Clock& clock)
    : timings_(timings), scheduler_(scheduler), clock_(clock) {}

std::vector<std::string> StubBackend::ReplyTokens(const std::vector<ChatMessage>& messages) {
  absl::string_view prompt;
  for (const ChatMessage& message : messages) {
    if (message.role == "user") prompt = message.content;
  }
  if (prompt.empty() && !messages.empty()) prompt = messages.back().content;
  const uint64_t seed = Fnv1a(prompt);
  const size_t count = 8 + seed % 17;
  std::vector<std::string> tokens;
  tokens.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    std::string token = i == 0 ? "" : " ";
    token += kWords[SplitMix(seed + i) % kWords.size()];
    if (i + 1 == count) token += ".";
    tokens.push_back(std::move(token));
  }
  return tokens;
}

int StubBackend::CountPromptTokens(const std::vector<ChatMessage>& messages) {
  int count = 0;
  for (const ChatMessage& message : messages) {
    for (absl::string_view word :
         absl::StrSplit(message.content, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
      static_cast<void>(word);
      ++count;
    }
  }
  return count;
}

std::unique_ptr<Generation> StubBackend::Start(const GenerateParams& params, OnDelta on_delta,
                                               OnDone done) {
  std::vector<std::string> tokens = ReplyTokens(params.messages);
  std::string finish_reason = "stop";
  if (params.max_tokens > 0 && static_cast<size_t>(params.max_tokens) < tokens.size()) {
    tokens.resize(params.max_tokens);
    finish_reason = "length";
  }
  auto generation = std::make_shared<StubGeneration>(
      std::move(tokens), std::move(finish_reason), CountPromptTokens(params.messages),
      clock_.Now() + timings_.first_token, timings_.per_token, params.deadline, std::move(on_delta),
      std::move(done), scheduler_, clock_);
  generation->Begin();
  return std::make_unique<StubHandle>(std::move(generation));
}

}  // namespace spine::llm
