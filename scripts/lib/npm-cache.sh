# shellcheck shell=bash
# Sourced by scripts that need a folder's pinned npm packages (scripts/load-gates: Artillery in
# tests/load; bench/compare: the Node peer in bench/peers/node).
#
#   npm_ci_cached DIR CACHE_ROOT KEY [NPM_CI_ARG...]
#
# Installs DIR's package-lock.json with `npm ci NPM_CI_ARG...` once per lock file into
# CACHE_ROOT/<sha256 of package-lock.json, package.json and KEY>, outside the checkout (a fresh
# clone, as in CI, reuses it), and links DIR/node_modules there. KEY is whatever else the
# install depends on: empty for pure JavaScript, the Node version for a native addon (its build
# is for one Node ABI). An install that did not finish is redone; two scripts installing the
# same lock at once take turns (flock). Sets NPM_CACHED_DIR to the cache entry. Needs npm.

npm_ci_cached() {
  local dir=$1 root=$2 key=$3
  shift 3
  local sum
  sum=$({ cat "$dir/package-lock.json" "$dir/package.json" && printf '%s' "$key"; } |
    sha256sum | cut -d" " -f1)
  NPM_CACHED_DIR=$root/$sum
  mkdir -p "$root"
  (
    flock 9
    if [ ! -f "$NPM_CACHED_DIR/.complete" ]; then
      echo "${0##*/}: npm ci for ${dir#"${PWD}/"} into $NPM_CACHED_DIR"
      rm -rf "$NPM_CACHED_DIR"
      mkdir -p "$NPM_CACHED_DIR"
      cp "$dir/package.json" "$dir/package-lock.json" "$NPM_CACHED_DIR/"
      (cd "$NPM_CACHED_DIR" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error "$@" >/dev/null)
      touch "$NPM_CACHED_DIR/.complete"
    fi
  ) 9>"$root/.lock-$sum"
  if [ "$(readlink "$dir/node_modules" 2>/dev/null || true)" != "$NPM_CACHED_DIR/node_modules" ]; then
    rm -rf "$dir/node_modules"
    ln -s "$NPM_CACHED_DIR/node_modules" "$dir/node_modules"
  fi
}
