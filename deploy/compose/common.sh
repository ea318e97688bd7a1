# Sourced by deploy/compose/{up,down} and scripts/test-compose: where things are, the settings
# (each overridable from the environment), and `compose` = docker-compose on this stack.
#
#   SPINE_IMAGE           image the five containers run            spine:local
#   SPINE_SECRETS_DIR     the secret files                         deploy/compose/secrets
#   SPINE_HTTP_BIND       where the gateway is published           127.0.0.1:8080
#   COMPOSE_PROJECT_NAME  names the containers, network and volume spine
#   SPINE_COMPOSE_FILES   extra compose files (space-separated), e.g. the LLM backend override
#   SPINE_PROMETHEUS_IMAGE  the `monitoring` profile's Prometheus   spine-prometheus:local
#   SPINE_PROMETHEUS_BIND   where that Prometheus is published      127.0.0.1:9090

compose_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$compose_dir/../.." && pwd)
# Debian's client, not a newer one earlier in PATH (which may lack what compose 1.29 expects).
docker=/usr/bin/docker
export PATH="/usr/bin:$PATH"
export SPINE_IMAGE=${SPINE_IMAGE:-spine:local}
export SPINE_SECRETS_DIR=${SPINE_SECRETS_DIR:-$compose_dir/secrets}
export SPINE_HTTP_BIND=${SPINE_HTTP_BIND:-127.0.0.1:8080}
export SPINE_PROMETHEUS_IMAGE=${SPINE_PROMETHEUS_IMAGE:-spine-prometheus:local}
export SPINE_PROMETHEUS_BIND=${SPINE_PROMETHEUS_BIND:-127.0.0.1:9090}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-spine}
# docker-compose reads the seccomp profile relative to its working directory; make it absolute.
export SPINE_COMPOSE_DIR=$compose_dir
SUDO=""
if [ "$(id -u)" -ne 0 ] && ! "$docker" info >/dev/null 2>&1; then SUDO="sudo -E"; fi

compose() {
  local files=(-f "$compose_dir/docker-compose.yml")
  local extra
  for extra in ${SPINE_COMPOSE_FILES:-}; do files+=(-f "$extra"); done
  $SUDO docker-compose --project-directory "$compose_dir" "${files[@]}" "$@"
}
