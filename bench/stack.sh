# shellcheck shell=bash
# Sourced by bench/load and bench/soak (not a bench: CI runs only the executable files of bench/).
# A throwaway Spine stack (scripts/lib/throwaway-stack.sh): the five services on free loopback
# ports, fresh secrets and data in a temp dir, the gateway trusting X-Forwarded-For from
# 127.0.0.1 so that each load session is its own client for the per-IP limit. Everything else
# is the default configuration.
#
# stack_binaries: sets stack_bin, the dir with services/<svc>/spine-<svc>, and loadgen, the
#   spine-loadgen binary. SPINE_BUILD_DIR (bench/common.sh) gives the services' build; when it is
#   a configured build dir the targets are brought up to date there, otherwise (a dir of prebuilt
#   binaries) it is used as it is. SPINE_LOADGEN names another spine-loadgen.
# stack_start: starts the stack and waits for /readyz; sets stack_http_addr,
#   stack_admin_password_file and stack_pid[<svc>]; the services log to
#   $SPINE_DATA_DIR/logs/<svc>.log. stack_stop [DIR]: stops it (TERM, then KILL after 10 s) and
#   removes its data, first copying the logs into DIR when given. A script's EXIT trap calls it.
#   Settings in the array stack_extra_env (NAME=value, set by the caller) are added to the
#   services' environment, e.g. bench/compare's raised rate limit.

# shellcheck disable=SC2154,SC2034 # top, bench_bin: set by the script and bench/common.sh; stack_*: read by it

# shellcheck source-path=SCRIPTDIR source=../scripts/lib/throwaway-stack.sh
. "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib/throwaway-stack.sh"

stack_services=(storage llm plugins tasks gateway)
declare -A stack_pid=()
stack_extra_env=()

stack_binaries() {
  local dir=${SPINE_BUILD_DIR:-build/release}
  if [ -n "${SPINE_BUILD_DIR:-}" ] && [ ! -f "$dir/CMakeCache.txt" ]; then
    stack_bin=$(realpath -- "$dir")
  else
    bench_build spine-storage spine-llm spine-plugins spine-tasks spine-gateway spine-loadgen
    stack_bin=$bench_bin
  fi
  local svc
  for svc in "${stack_services[@]}"; do
    [ -x "$stack_bin/services/$svc/spine-$svc" ] ||
      { echo "${0##*/}: $stack_bin/services/$svc/spine-$svc not built" >&2; exit 2; }
  done
  loadgen=${SPINE_LOADGEN:-}
  if [ -z "$loadgen" ]; then
    local candidate
    for candidate in "$stack_bin/bench/loadgen/spine-loadgen" "$top/build/dev/bench/loadgen/spine-loadgen"; do
      if [ -x "$candidate" ]; then loadgen=$candidate; break; fi
    done
  fi
  if [ -z "$loadgen" ] || [ ! -x "$loadgen" ]; then
    echo "${0##*/}: spine-loadgen not found (build it, or set SPINE_LOADGEN)" >&2
    exit 2
  fi
}

stack_start() {
  # Exactly the bench's configuration: SPINE_* settings of the caller's shell (or a ./.env, which
  # throwaway_stack_start replaces by /dev/null) do not leak into the run; the bench's own knobs
  # and the build to measure stay.
  local var
  for var in $(compgen -e SPINE_); do
    case $var in
      SPINE_BENCH_* | SPINE_LOAD_* | SPINE_SOAK_* | SPINE_BUILD_DIR | SPINE_LOADGEN) ;;
      *) unset "$var" ;;
    esac
  done
  export SPINE_DEV_MODE=0 SPINE_LOG_LEVEL=warn SPINE_SHUTDOWN_GRACE_MS=2000
  export SPINE_TRUSTED_PROXIES=127.0.0.1/32
  local setting
  for setting in "${stack_extra_env[@]}"; do export "${setting?}"; done
  throwaway_stack_start "$stack_bin"
  stack_http_addr=${STACK_URL#http://}
  stack_admin_password_file=$STACK_ADMIN_PASSWORD_FILE
  local svc
  for svc in "${stack_services[@]}"; do stack_pid[$svc]=${STACK_PID[$svc]}; done
}

stack_stop() {
  if [ -n "${1:-}" ] && [ -n "${STACK_WORK:-}" ]; then cp -r "$STACK_WORK/data/logs" "$1/" || true; fi
  throwaway_stack_stop
  stack_pid=()
}

# cpu_ticks PID: user+system CPU the process has used, in clock ticks (children excluded).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# rss_kb PID: its resident set (VmRSS), in kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
# cpu_ticks_tree PID: the same for the process and its descendants, live and reaped (the
# plugin workers are children of spine-plugins).
cpu_ticks_tree() {
  local total child children
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0)
  while read -r -a children; do
    for child in "${children[@]}"; do total=$((total + $(cpu_ticks_tree "$child"))); done
  done < <(cat /proc/"$1"/task/*/children 2>/dev/null)
  echo "$total"
}
