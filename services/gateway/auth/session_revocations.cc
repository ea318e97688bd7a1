#include "services/gateway/auth/session_revocations.h"

#include <algorithm>

namespace spine::gateway {

SessionRevocations::SessionRevocations(const Clock& clock, size_t capacity)
    : clock_(clock), capacity_(std::max<size_t>(capacity, 1)) {}

void SessionRevocations::RecordIssued(const std::string& user_id, const std::string& family_id,
                                      const std::string& refresh_hash, const std::string& jti,
                                      absl::Time exp) {
  absl::MutexLock lock(&mu_);
  if (!families_.contains(family_id)) MakeRoomForFamilyLocked();
  while (issued_ >= capacity_ && !families_.empty()) MakeRoomForFamilyLocked();
  Family& family = families_[family_id];
  family.user_id = user_id;
  family.tokens.emplace_back(jti, exp);
  family.until = std::max(family.until, exp);
  if (!refresh_hash.empty()) {
    family.refresh_hashes.push_back(refresh_hash);
    family_of_[refresh_hash] = family_id;
  }
  ++issued_;
}

void SessionRevocations::RevokeUser(const std::string& user_id) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  // Rare (an admin's or the user's own act), so a scan of the bounded table is fine.
  std::vector<std::string> families;
  for (const auto& [id, family] : families_) {
    if (family.user_id != user_id) continue;
    families.push_back(id);
    for (const auto& [jti, exp] : family.tokens) {
      if (exp <= now) continue;
      if (!revoked_.contains(jti)) MakeRoomForRevokedLocked();
      revoked_[jti] = exp;
    }
  }
  for (const std::string& id : families) EraseFamilyLocked(id);
  if (user_changed_.size() >= capacity_) {
    absl::erase_if(user_changed_,
                   [now](const auto& entry) { return now - entry.second >= kUserChangeMemory; });
    if (user_changed_.size() >= capacity_) user_changed_.clear();
  }
  user_changed_[user_id] = now;
}

absl::Time SessionRevocations::UserChangedAt(const std::string& user_id) const {
  absl::MutexLock lock(&mu_);
  auto it = user_changed_.find(user_id);
  if (it == user_changed_.end() || clock_.Now() - it->second >= kUserChangeMemory) {
    return absl::InfinitePast();
  }
  return it->second;
}

void SessionRevocations::RevokeToken(const std::string& jti, absl::Time exp) {
  absl::MutexLock lock(&mu_);
  if (exp <= clock_.Now()) return;  // refused as expired anyway
  if (!revoked_.contains(jti)) MakeRoomForRevokedLocked();
  revoked_[jti] = exp;
}

void SessionRevocations::RevokeFamilyOf(const std::string& refresh_hash) {
  absl::MutexLock lock(&mu_);
  auto id = family_of_.find(refresh_hash);
  if (id == family_of_.end()) return;
  const std::string family_id = id->second;
  auto family = families_.find(family_id);
  if (family != families_.end()) {
    const absl::Time now = clock_.Now();
    for (const auto& [jti, exp] : family->second.tokens) {
      if (exp <= now) continue;
      if (!revoked_.contains(jti)) MakeRoomForRevokedLocked();
      revoked_[jti] = exp;
    }
  }
  EraseFamilyLocked(family_id);
}

bool SessionRevocations::IsRevoked(const std::string& jti) const {
  absl::MutexLock lock(&mu_);
  auto it = revoked_.find(jti);
  return it != revoked_.end() && it->second > clock_.Now();
}

size_t SessionRevocations::revoked_size() const {
  absl::MutexLock lock(&mu_);
  return revoked_.size();
}

void SessionRevocations::MakeRoomForRevokedLocked() {
  if (revoked_.size() < capacity_) return;
  const absl::Time now = clock_.Now();
  absl::erase_if(revoked_, [now](const auto& entry) { return entry.second <= now; });
  if (revoked_.size() < capacity_) return;
  // Still full of live revocations: drop the one that would have expired first.
  auto soonest = std::min_element(revoked_.begin(), revoked_.end(),
                                  [](const auto& a, const auto& b) { return a.second < b.second; });
  revoked_.erase(soonest);
}

void SessionRevocations::MakeRoomForFamilyLocked() {
  if (families_.size() < capacity_ && issued_ < capacity_) return;
  const absl::Time now = clock_.Now();
  std::vector<std::string> expired;
  for (const auto& [id, family] : families_) {
    if (family.until <= now) expired.push_back(id);
  }
  for (const std::string& id : expired) EraseFamilyLocked(id);
  if (families_.size() < capacity_ && issued_ < capacity_) return;
  auto soonest = std::min_element(
      families_.begin(), families_.end(),
      [](const auto& a, const auto& b) { return a.second.until < b.second.until; });
  if (soonest != families_.end()) EraseFamilyLocked(soonest->first);
}

void SessionRevocations::EraseFamilyLocked(const std::string& family_id) {
  auto family = families_.find(family_id);
  if (family == families_.end()) return;
  for (const std::string& hash : family->second.refresh_hashes) family_of_.erase(hash);
  issued_ -= family->second.tokens.size();
  families_.erase(family);
}

}  // namespace spine::gateway
