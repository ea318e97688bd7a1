# shellcheck shell=bash
# Sourced by the bench/* scripts (not a bench itself: CI runs the executable files of bench/).
#
# SPINE_BUILD_DIR   the build whose binaries are measured (default build/release, configured
#                   and built here); any other configured build dir is used as it is, with the
#                   bench's targets brought up to date (CI passes the build it has just tested).
# SPINE_BENCH_SMOKE=1  smoke mode: a few seconds per bench, so CI proves every bench still runs
#                   and still fails when what it measures fails; the figures are printed but
#                   mean little (shorter runs, possibly a debug or sanitizer build).

# bench_build TARGET...: sets bench_bin (absolute) to the build dir with TARGET... up to date.
bench_build() {
  local dir=${SPINE_BUILD_DIR:-build/release}
  if [ -z "${SPINE_BUILD_DIR:-}" ]; then cmake --preset release >/dev/null; fi
  [ -f "$dir/CMakeCache.txt" ] || { echo "${0##*/}: $dir is not a configured build" >&2; exit 2; }
  cmake --build "$dir" --target "$@" -j2 >/dev/null
  # shellcheck disable=SC2034 # read by the script that sources this
  bench_bin=$(realpath -- "$dir")
}

# bench_smoke: whether SPINE_BENCH_SMOKE=1.
bench_smoke() { [ "${SPINE_BENCH_SMOKE:-0}" = 1 ]; }
