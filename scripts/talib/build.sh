#!/usr/bin/env bash
# Builds TA-Lib C from the `talib` npm tarball and the reference programs in this folder (golden, bench).
#
# Usage: scripts/talib/build.sh [--binding]
#   --binding   also builds the talib Node binding (node-gyp, against this machine's Node headers)
# Environment:
#   MERCURY_TALIB_CACHE   cache folder (default ${XDG_CACHE_HOME:-~/.cache}/mercury/talib)
#   TALIB_VERSION         talib npm version (default 1.1.6, which ships TA-Lib C 0.6)
#
# Idempotent: the tarball, the C library, the programs and the binding are rebuilt only when missing or
# older than their sources. Progress goes to stderr; stdout gets KEY=VALUE lines with the paths:
#   TALIB_DIR, TALIB_INCLUDE, TALIB_LIB, GOLDEN_BIN, BENCH_BIN and, with --binding, TALIB_BINDING
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VERSION="${TALIB_VERSION:-1.1.6}"
CACHE="${MERCURY_TALIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mercury/talib}"
PKG="$CACHE/talib-$VERSION"
INCLUDE="$PKG/src/lib/include"
LIBDIR="$PKG/src/lib/lib"
MAKEDIR="src/lib/make/csr/linux/g++"
BIN="$CACHE/bin-$VERSION"
JOBS="$(nproc 2>/dev/null || echo 2)"

want_binding=0
for a in "$@"; do
  case "$a" in
    --binding) want_binding=1 ;;
    *) echo "usage: $0 [--binding]" >&2; exit 2 ;;
  esac
done

log() { echo "talib: $*" >&2; }

mkdir -p "$CACHE" "$BIN"

# 1. The tarball and TA-Lib C. The tarball ships stale macOS objects, hence `make clean` before `make`
if [ ! -f "$PKG/.built" ]; then
  tgz="$CACHE/talib-$VERSION.tgz"
  if [ ! -s "$tgz" ]; then
    log "fetching talib@$VERSION with npm pack"
    (cd "$CACHE" && npm pack "talib@$VERSION" --silent >/dev/null)
  fi
  # Build in a scratch folder and move it in place at the end, so an interrupted build is never taken as done
  rm -rf "$PKG.tmp" "$PKG"
  mkdir -p "$PKG.tmp"
  tar -xzf "$tgz" -C "$PKG.tmp" --strip-components=1
  log "building TA-Lib C ($JOBS jobs)"
  make -C "$PKG.tmp/$MAKEDIR" clean >/dev/null
  # One sub-directory at a time, each in parallel: the top-level -j runs ta_func and ta_libc together, and both
  # compile the same objects into the same temp folder, which can leave a corrupt archive
  for sub in ta_common ta_func ta_abstract ta_libc; do
    make -C "$PKG.tmp/$MAKEDIR/$sub" -j"$JOBS" >>"$PKG.tmp/make.log" 2>&1 || {
      tail -30 "$PKG.tmp/make.log" >&2
      exit 1
    }
  done
  touch "$PKG.tmp/.built"
  mv "$PKG.tmp" "$PKG"
fi

# 2. The reference programs, linked statically against the library just built
LIBS=("$LIBDIR/libta_func_csr.a" "$LIBDIR/libta_common_csr.a")
for prog in golden bench; do
  src="$HERE/$prog.c"
  out="$BIN/$prog"
  if [ ! -x "$out" ] || [ "$src" -nt "$out" ] || [ "$HERE/funcs.h" -nt "$out" ] || [ "$PKG/.built" -nt "$out" ]; then
    log "compiling $prog"
    gcc -O2 -std=c99 -Wall -I"$INCLUDE" -o "$out.tmp" "$src" "${LIBS[@]}" -lm
    mv "$out.tmp" "$out"
  fi
done

# 3. The Node binding (optional): nan from the registry, then node-gyp with the Node headers npm is set up for
if [ "$want_binding" = 1 ]; then
  node_file="$PKG/build/Release/talib.node"
  if [ ! -f "$node_file" ] || [ "$PKG/.built" -nt "$node_file" ]; then
    log "building the talib Node binding"
    (cd "$PKG" && npm install --ignore-scripts --no-package-lock --no-save --no-audit --no-fund --silent >&2)
    gyp="${npm_config_node_gyp:-}"
    if [ -z "$gyp" ] || [ ! -f "$gyp" ]; then
      gyp="$(npm prefix -g 2>/dev/null)/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js"
    fi
    if [ ! -f "$gyp" ]; then
      echo "talib: node-gyp not found (looked for npm's bundled copy at $gyp)" >&2
      exit 1
    fi
    nodedir="${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}"
    args=(rebuild --jobs="$JOBS")
    if [ -n "$nodedir" ] && [ "$nodedir" != "undefined" ]; then args+=(--nodedir="$nodedir"); fi
    (cd "$PKG" && node "$gyp" "${args[@]}" >"$PKG/node-gyp.log" 2>&1) || {
      tail -30 "$PKG/node-gyp.log" >&2
      exit 1
    }
  fi
fi

echo "TALIB_DIR=$PKG"
echo "TALIB_INCLUDE=$INCLUDE"
echo "TALIB_LIB=$LIBDIR"
echo "GOLDEN_BIN=$BIN/golden"
echo "BENCH_BIN=$BIN/bench"
if [ "$want_binding" = 1 ]; then echo "TALIB_BINDING=$PKG/build/Release/talib.node"; fi
