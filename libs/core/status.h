// Status helpers shared by every Spine target.
//
// SPINE_RETURN_IF_ERROR(expr): evaluates an absl::Status expression and returns it from the
// enclosing function when it is not OK.
// SPINE_ASSIGN_OR_RETURN(lhs, expr): evaluates an absl::StatusOr<T> expression; on error returns
// its status, otherwise moves the value into `lhs` (which may be a declaration).
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define SPINE_STATUS_CONCAT_INNER_(a, b) a##b
#define SPINE_STATUS_CONCAT_(a, b) SPINE_STATUS_CONCAT_INNER_(a, b)

#define SPINE_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status spine_status_ = (expr);         \
    if (!spine_status_.ok()) return spine_status_; \
  } while (false)

// `lhs` may be a declaration, so it cannot be parenthesised.
// NOLINTBEGIN(bugprone-macro-parentheses)
#define SPINE_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
// NOLINTEND(bugprone-macro-parentheses)

#define SPINE_ASSIGN_OR_RETURN(lhs, expr) \
  SPINE_ASSIGN_OR_RETURN_IMPL_(SPINE_STATUS_CONCAT_(spine_statusor_, __LINE__), lhs, expr)
