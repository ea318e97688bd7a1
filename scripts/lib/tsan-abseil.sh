#!/usr/bin/env bash
# tsan-abseil.sh: builds Debian's own Abseil (the source package of the installed libabsl-dev,
# same version, same Debian patches, same CMake options) with -fsanitize=thread into a cache
# directory and prints that prefix on stdout (progress goes to stderr).
#
# Why: Debian's libabsl is not instrumented, so TSan cannot see absl::Mutex's lock/unlock and
# reports every access it guards as a race; gRPC's gpr_mu is an absl::Mutex too. The instrumented
# libraries keep Debian's SONAMEs (libabsl_*.so.20220623) and ABI, so a binary whose RPATH names
# this prefix loads them in place of the system's ones, for our code and for Debian's gRPC alike.
#
# One patch is applied, to TSan annotations only (tsan-abseil-thread-identity.patch says why).
# The prefix is one folder per package version, so its path, which the tsan build's compile
# commands and RPATH carry, stays put; its .complete file holds the key, the version plus the hash
# of this script and the patch. A new key rebuilds the folder in place: the tsan build then
# recompiles against byte-identical headers (ccache hits) and relinks.
#   SPINE_TSAN_CACHE   cache root (default ${XDG_CACHE_HOME:-~/.cache}/spine-tsan)
#   SPINE_TSAN_ABSEIL_TIMEOUT   bound on the whole build in seconds (default 3600)
#   SPINE_TSAN_ABSEIL_JOBS      its parallel jobs (default 2)
set -euo pipefail
self=$(readlink -f "$0")
me=${0##*/}
die() {
  echo "$me: $*" >&2
  exit 1
}

for tool in apt-get dpkg-source dpkg-query patch cmake ninja objdump flock sha256sum timeout; do
  command -v "$tool" >/dev/null || die "$tool is missing (scripts/install-deps installs it)"
done
version=$(dpkg-query -W -f='${Version}' libabsl-dev 2>/dev/null) ||
  die "libabsl-dev is not installed (scripts/install-deps installs it)"
patch_file="$(dirname "$self")/tsan-abseil-thread-identity.patch"
[ -f "$patch_file" ] || die "$patch_file is missing"
key="$version $(cat "$self" "$patch_file" | sha256sum | cut -c1-12)"
root=${SPINE_TSAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/spine-tsan}
prefix="$root/abseil-${version//[^A-Za-z0-9.+-]/_}"
if [ "$(cat "$prefix/.complete" 2>/dev/null)" = "$key" ]; then
  echo "$prefix"
  exit 0
fi

mkdir -p "$root"
# One build at a time per cache (CI and a developer, or two worktrees): the second waits, then reuses.
exec 9>"$root/.lock"
flock 9
if [ "$(cat "$prefix/.complete" 2>/dev/null)" = "$key" ]; then
  echo "$prefix"
  exit 0
fi
work=$(mktemp -d "$root/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "$me: building Abseil $version with TSan into $prefix (once per version; a few minutes)" >&2

# A private source list: the system's apt configuration is neither read for sources nor changed.
mkdir -p "$work/apt/lists/partial"
echo 'deb-src http://deb.debian.org/debian bookworm main' >"$work/apt/sources.list"
apt_opts=(-o "Dir::Etc::sourcelist=$work/apt/sources.list" -o Dir::Etc::sourceparts=/nonexistent
  -o "Dir::State::Lists=$work/apt/lists" -o Debug::NoLocking=1)
timeout 300 apt-get "${apt_opts[@]}" -qq update >&2 || die "apt-get update of the deb-src list failed"
(cd "$work" && timeout 300 apt-get "${apt_opts[@]}" -qq source --download-only "abseil=$version") >&2 ||
  die "apt-get source abseil=$version failed (is that version still on deb.debian.org?)"
dpkg-source -x "$work"/abseil_*.dsc "$work/src" >/dev/null || die "dpkg-source -x failed"
patch -d "$work/src" -p1 --quiet <"$patch_file" || die "$patch_file does not apply to abseil $version"

# debian/rules' shared-library configuration: C++17 (it decides which absl types alias std ones,
# so it is ABI), shared libraries. CMAKE_BUILD_TYPE=None and no NDEBUG, as debhelper builds it.
# shellcheck disable=SC2016 # the inner bash expands its own $1/$2
timeout "${SPINE_TSAN_ABSEIL_TIMEOUT:-3600}" bash -c '
  set -euo pipefail
  cmake -S "$1/src" -B "$1/build" -G Ninja -Wno-dev \
    -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_STANDARD=17 -DBUILD_SHARED_LIBS=ON -DBUILD_TESTING=OFF \
    -DCMAKE_CXX_FLAGS="-O1 -g -fsanitize=thread -fno-omit-frame-pointer" \
    -DCMAKE_SHARED_LINKER_FLAGS=-fsanitize=thread \
    -DCMAKE_INSTALL_PREFIX="$2" -DCMAKE_INSTALL_LIBDIR=lib \
    -DCMAKE_INSTALL_RPATH="\$ORIGIN" >/dev/null
  cmake --build "$1/build" -j"${SPINE_TSAN_ABSEIL_JOBS:-2}"
  DESTDIR="$1/stage" cmake --install "$1/build" >/dev/null
' _ "$work" "$prefix" >&2 || die "building Abseil failed or timed out (log above)"

# Refuse a build that does not match the installed libraries' SONAMEs: the point is to replace them.
so=$(objdump -p "$work/stage$prefix/lib/libabsl_synchronization.so" 2>/dev/null | awk '/SONAME/ {print $2}')
[ -e "/usr/lib/$(gcc -dumpmachine)/$so" ] || die "built SONAME '$so' is not the installed one"
rm -rf "$prefix"
mv "$work/stage$prefix" "$prefix"
echo "$key" >"$prefix/.complete"
echo "$me: done" >&2
echo "$prefix"
