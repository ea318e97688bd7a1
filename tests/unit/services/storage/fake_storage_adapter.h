// FakeStorageAdapter: an in-memory StorageAdapter for logic tests and the adapter contract
// suite. It interprets the FTS5 expressions BuildFtsMatchExpression produces ("w" AND "p"*).
// Thread-safe.
#pragma once

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "services/storage/storage_adapter.h"

namespace spine::storage::testing {

class FakeStorageAdapter final : public StorageAdapter {
 public:
  absl::StatusOr<Thought> InsertThought(const Thought& thought) override {
    absl::MutexLock lock(&mu_);
    Thought stored = thought;
    stored.id = ++last_id_;
    thoughts_[stored.id] = stored;
    return stored;
  }

  absl::StatusOr<Thought> GetThought(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = thoughts_.find(id);
    if (it == thoughts_.end() || it->second.user_id != user_id) return NotFound(id);
    return it->second;
  }

  absl::StatusOr<Thought> UpdateThought(int64_t user_id, int64_t id,
                                        const ThoughtPatch& patch) override {
    absl::MutexLock lock(&mu_);
    auto it = thoughts_.find(id);
    if (it == thoughts_.end() || it->second.user_id != user_id) return NotFound(id);
    if (patch.text) it->second.text = *patch.text;
    if (patch.tags) it->second.tags = *patch.tags;
    it->second.update_micros = patch.update_micros;
    return it->second;
  }

  absl::Status DeleteThought(int64_t user_id, int64_t id) override {
    absl::MutexLock lock(&mu_);
    auto it = thoughts_.find(id);
    if (it == thoughts_.end() || it->second.user_id != user_id) return NotFound(id);
    thoughts_.erase(it);
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<Thought>> ListThoughts(const ThoughtQuery& query) override {
    absl::MutexLock lock(&mu_);
    std::vector<Thought> matches;
    for (const auto& [id, thought] : thoughts_) {
      if (thought.user_id != query.user_id) continue;
      if (query.after && !(thought.create_micros < query.after->create_micros ||
                           (thought.create_micros == query.after->create_micros &&
                            thought.id < query.after->id))) {
        continue;
      }
      if (!query.tag.empty() &&
          std::find(thought.tags.begin(), thought.tags.end(), query.tag) == thought.tags.end()) {
        continue;
      }
      if (!query.fts_match.empty() && !MatchesFts(query.fts_match, thought.text)) continue;
      matches.push_back(thought);
    }
    std::sort(matches.begin(), matches.end(), [](const Thought& a, const Thought& b) {
      return a.create_micros != b.create_micros ? a.create_micros > b.create_micros : a.id > b.id;
    });
    if (static_cast<int>(matches.size()) > query.limit) matches.resize(query.limit);
    return matches;
  }

  absl::Status Ping() override { return absl::OkStatus(); }

 private:
  static absl::Status NotFound(int64_t id) {
    return absl::NotFoundError(absl::StrCat("thought ", id, " not found"));
  }

  // Lower-cased runs of ASCII letters/digits and non-ASCII bytes, like FTS5's unicode61 for
  // the texts the tests use.
  static std::vector<std::string> Tokens(absl::string_view text) {
    std::vector<std::string> tokens;
    std::string current;
    for (char c : text) {
      const auto byte = static_cast<unsigned char>(c);
      if (absl::ascii_isalnum(byte) || byte >= 0x80) {
        current += static_cast<char>(absl::ascii_tolower(byte));
      } else if (!current.empty()) {
        tokens.push_back(std::move(current));
        current.clear();
      }
    }
    if (!current.empty()) tokens.push_back(std::move(current));
    return tokens;
  }

  // Every `"phrase"` or `"phrase"*` term joined by AND must occur in the text.
  static bool MatchesFts(absl::string_view expression, absl::string_view text) {
    const std::vector<std::string> words = Tokens(text);
    for (absl::string_view term : absl::StrSplit(expression, " AND ")) {
      const bool prefix = absl::EndsWith(term, "*");
      if (prefix) term.remove_suffix(1);
      absl::ConsumePrefix(&term, "\"");
      absl::ConsumeSuffix(&term, "\"");
      const std::vector<std::string> phrase = Tokens(term);
      if (phrase.empty()) return false;
      bool found = false;
      for (size_t start = 0; !found && start + phrase.size() <= words.size(); ++start) {
        bool all = true;
        for (size_t i = 0; all && i < phrase.size(); ++i) {
          const bool last = i + 1 == phrase.size();
          all = (prefix && last) ? absl::StartsWith(words[start + i], phrase[i])
                                 : words[start + i] == phrase[i];
        }
        found = all;
      }
      if (!found) return false;
    }
    return true;
  }

  absl::Mutex mu_;
  int64_t last_id_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int64_t, Thought> thoughts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace spine::storage::testing
