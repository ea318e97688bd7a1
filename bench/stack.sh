# shellcheck shell=bash
# Sourced by bench/load and bench/soak (not a bench: CI runs only the executable files of bench/).
# A throwaway Spine stack: the five services on free loopback ports, fresh secrets and data in a
# temp dir, the gateway trusting X-Forwarded-For from 127.0.0.1 so that each load session is its
# own client for the per-IP limit. Everything else is the default configuration.
#
# stack_binaries: sets stack_bin, the dir with services/<svc>/spine-<svc>, and loadgen, the
#   spine-loadgen binary. SPINE_BUILD_DIR (bench/common.sh) gives the services' build; when it is
#   a configured build dir the targets are brought up to date there, otherwise (a dir of prebuilt
#   binaries) it is used as it is. SPINE_LOADGEN names another spine-loadgen.
# stack_start WORK_DIR: starts the stack and waits for /readyz; sets stack_http_addr,
#   stack_admin_password_file and stack_pid[<svc>]. stack_stop: stops it (TERM, then KILL).
#   Settings in the array stack_extra_env (NAME=value, set by the caller) are added to the
#   services' environment, e.g. bench/compare's raised rate limit.

# shellcheck disable=SC2154 # top and bench_bin: set by the script and bench/common.sh
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
  local work=$1
  mkdir -p "$work/data"
  "$top/deploy/local/gen-secrets" "$work/secrets" >/dev/null
  : >"$work/empty.env"
  local ports
  mapfile -t ports < <("$loadgen" --free-ports 6)
  [ "${#ports[@]}" = 6 ] || { echo "${0##*/}: could not pick free ports" >&2; return 1; }
  stack_http_addr=127.0.0.1:${ports[0]}
  stack_admin_password_file=$work/secrets/admin_password
  # Exactly this environment (env -i): SPINE_* settings of the caller's shell or a ./.env do not
  # leak into the run.
  stack_env=(
    PATH="$PATH"
    SPINE_DEV_MODE=0
    SPINE_LOG_LEVEL=warn
    SPINE_ENV_FILE="$work/empty.env"
    SPINE_DATA_DIR="$work/data"
    SPINE_JWT_PUBLIC_KEY_FILE="$work/secrets/jwt_public.pem"
    SPINE_JWT_PRIVATE_KEY_FILE="$work/secrets/jwt_private.pem"
    SPINE_ADMIN_PASSWORD_FILE="$stack_admin_password_file"
    SPINE_PAGE_TOKEN_KEY_FILE="$work/secrets/page_token_key"
    SPINE_SHUTDOWN_GRACE_MS=2000
    SPINE_GATEWAY_HTTP_ADDR="$stack_http_addr"
    SPINE_GATEWAY_GRPC_ADDR="127.0.0.1:${ports[1]}"
    SPINE_STORAGE_ADDR="127.0.0.1:${ports[2]}"
    SPINE_LLM_ADDR="127.0.0.1:${ports[3]}"
    SPINE_PLUGINS_ADDR="127.0.0.1:${ports[4]}"
    SPINE_TASKS_ADDR="127.0.0.1:${ports[5]}"
    SPINE_PLUGINS_DIR="$top/plugins"
    SPINE_TRUSTED_PROXIES=127.0.0.1/32
    "${stack_extra_env[@]}"
  )
  local svc
  for svc in llm plugins tasks; do
    (umask 077 && env -i "${stack_env[@]}" "$stack_bin/services/gateway/spine-gateway" \
      mint-service-token "$svc" >"$work/secrets/service_token_$svc")
  done
  for svc in "${stack_services[@]}"; do
    local token_file=""
    [ -f "$work/secrets/service_token_$svc" ] && token_file=$work/secrets/service_token_$svc
    env -i "${stack_env[@]}" SPINE_SERVICE_TOKEN_FILE="$token_file" \
      "$stack_bin/services/$svc/spine-$svc" </dev/null >"$work/$svc.log" 2>&1 &
    stack_pid[$svc]=$!
  done
  local code=""
  for _ in $(seq 1 150); do
    for svc in "${stack_services[@]}"; do
      kill -0 "${stack_pid[$svc]}" 2>/dev/null ||
        { echo "${0##*/}: $svc exited during start:" >&2; tail -n 5 "$work/$svc.log" >&2; return 1; }
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://$stack_http_addr/readyz" || true)
    [ "$code" = 200 ] && return 0
    sleep 0.2
  done
  echo "${0##*/}: /readyz did not answer 200 within 30 s: $(curl -s "http://$stack_http_addr/readyz" || true)" >&2
  return 1
}

stack_stop() {
  local svc pid
  for svc in "${!stack_pid[@]}"; do kill -TERM "${stack_pid[$svc]}" 2>/dev/null || true; done
  for svc in "${!stack_pid[@]}"; do
    pid=${stack_pid[$svc]}
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
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
