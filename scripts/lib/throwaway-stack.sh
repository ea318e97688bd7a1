# shellcheck shell=bash
# Sourced by scripts that need a whole Spine stack for a while (check-openapi-client,
# load-gates, bench/load and bench/soak through bench/stack.sh): the five services of a build dir
# (or of a dir of prebuilt binaries laid out like one) on free loopback ports, started by
# deploy/local/spine-up with a throwaway data dir, stopped (deploy/local/spine-down) and removed
# however the script ends.
#
#   throwaway_stack_build BUILD_DIR   brings the five service targets up to date (-j2)
#   throwaway_stack_start BUILD_DIR   starts them; sets STACK_URL, STACK_WORK (a temp dir that
#                                     goes with the stack), SPINE_DATA_DIR,
#                                     STACK_ADMIN_PASSWORD_FILE and STACK_PID[<service>]
#   throwaway_stack_stop              stops and removes it (safe to call twice)
#
# throwaway_stack_start sets an EXIT trap that stops the stack, unless the caller has an EXIT
# trap of its own: that trap must then call throwaway_stack_stop. The caller's environment
# reaches the services (e.g. SPINE_TRUSTED_PROXIES). Needs node (to pick the ports) and curl;
# the caller has `set -euo pipefail`.

throwaway_stack_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
declare -gA STACK_PID=()

throwaway_stack_build() {
  cmake --build "$1" --target spine-storage spine-llm spine-plugins spine-tasks spine-gateway \
    -j2 >/dev/null
}

throwaway_stack_stop() {
  if [ -n "${STACK_WORK:-}" ]; then
    SPINE_DATA_DIR="$STACK_WORK/data" "$throwaway_stack_top/deploy/local/spine-down" >/dev/null 2>&1 || true
    rm -rf "$STACK_WORK"
    STACK_WORK=""
  fi
  STACK_PID=()
}

throwaway_stack_start() {
  local build_dir=$1
  STACK_WORK=$(mktemp -d)
  export SPINE_DATA_DIR="$STACK_WORK/data"
  [ -n "$(trap -p EXIT)" ] || trap throwaway_stack_stop EXIT

  # Six free loopback ports, held by one process until all are chosen so none repeats.
  local http grpc storage llm plugins tasks
  read -r http grpc storage llm plugins tasks < <(node -e '
    const net = require("net");
    const servers = [];
    const next = () => {
      if (servers.length === 6) {
        console.log(servers.map((s) => s.address().port).join(" "));
        servers.forEach((s) => s.close());
        return;
      }
      const s = net.createServer();
      s.listen(0, "127.0.0.1", () => { servers.push(s); next(); });
    };
    next();')
  export SPINE_GATEWAY_HTTP_ADDR=127.0.0.1:$http SPINE_GATEWAY_GRPC_ADDR=127.0.0.1:$grpc
  export SPINE_STORAGE_ADDR=127.0.0.1:$storage SPINE_LLM_ADDR=127.0.0.1:$llm
  export SPINE_PLUGINS_ADDR=127.0.0.1:$plugins SPINE_TASKS_ADDR=127.0.0.1:$tasks
  # No developer .env, no outside models file: the built-in stub models and the repo's plugins.
  export SPINE_ENV_FILE=/dev/null
  unset SPINE_LLM_MODELS_FILE SPINE_PLUGINS_DIR
  # spine-up takes the build dir relative to the checkout.
  if ! SPINE_BUILD_DIR=$(realpath --relative-to="$throwaway_stack_top" -- "$build_dir") \
    "$throwaway_stack_top/deploy/local/spine-up" >"$STACK_WORK/up.log" 2>&1; then
    cat "$STACK_WORK/up.log" >&2
    exit 1
  fi
  export STACK_URL="http://127.0.0.1:$http"
  export STACK_ADMIN_PASSWORD_FILE="$SPINE_DATA_DIR/secrets/admin_password"
  local svc
  for svc in storage llm plugins tasks gateway; do
    # shellcheck disable=SC2034 # read by the caller
    STACK_PID[$svc]=$(cat "$SPINE_DATA_DIR/run/$svc.pid")
  done
}
