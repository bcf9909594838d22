#!/usr/bin/env bash
# Development pod entrypoint (RunPod pod with a network volume, image target `dev`).
#
# Keeps the code checkout, node_modules and the npm cache on the volume, so a restart takes seconds:
#   first start   clone MENTATOR_DEV_REPO (branch MENTATOR_DEV_BRANCH) and npm ci
#   restart       fetch + fast-forward the branch; npm ci only when package-lock.json's sha256 changed
#                 (or node_modules is missing); build when distjs/ is stale
# then runs the given command in the checkout, or by default the service through the checkout's own
# docker/start-docker.sh (data under $MENTATOR_DEV_HOME/data unless MENTATOR_HOME is set).
#
# Environment:
#   MENTATOR_DEV_REPO     git URL (required on the first start; https://TOKEN@host/... for private repos)
#   MENTATOR_DEV_BRANCH   branch (default main)
#   MENTATOR_DEV_HOME     state on the volume (default /runpod-volume/mentator-dev, or /workspace/mentator-dev
#                         when only /workspace exists)
#   MENTATOR_DEV_PULL     0 keeps the checkout as it is (no fetch)
set -euo pipefail

log() { printf '[pod-dev] %s\n' "$*" >&2; }
die() { printf '[pod-dev] error: %s\n' "$*" >&2; exit 1; }

if [ -z "${MENTATOR_DEV_HOME:-}" ]; then
    if [ -d /runpod-volume ] || [ ! -d /workspace ]; then MENTATOR_DEV_HOME=/runpod-volume/mentator-dev
    else MENTATOR_DEV_HOME=/workspace/mentator-dev; fi
fi
DEV_HOME=$MENTATOR_DEV_HOME
SRC=$DEV_HOME/src
STATE=$DEV_HOME/state
BRANCH=${MENTATOR_DEV_BRANCH:-main}
REPO=${MENTATOR_DEV_REPO:-}
mkdir -p "$DEV_HOME" "$STATE" "$DEV_HOME/cache/npm" "$DEV_HOME/cache/xdg" \
    || die "cannot create $DEV_HOME (is the volume mounted and writable?)"

# caches on the volume: npm's tarballs, and anything that honours XDG_CACHE_HOME
export npm_config_cache=$DEV_HOME/cache/npm
export XDG_CACHE_HOME=$DEV_HOME/cache/xdg

# The volume may carry another uid's files (a different pod image); git refuses those without this.
if [ -z "${GIT_CONFIG_COUNT:-}" ]; then
    export GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0=$SRC
fi

# ------------------------------------------------------------------ code
if [ ! -d "$SRC/.git" ]; then
    [ -n "$REPO" ] || die "no checkout in $SRC and MENTATOR_DEV_REPO is not set"
    log "cloning $REPO ($BRANCH) into $SRC"
    rm -rf "$SRC.partial"
    git clone --branch "$BRANCH" -- "$REPO" "$SRC.partial" || die "git clone $REPO failed"
    mv "$SRC.partial" "$SRC"
elif [ "${MENTATOR_DEV_PULL:-1}" != 0 ]; then
    log "updating $SRC to origin/$BRANCH"
    if [ -n "$REPO" ] && [ "$(git -C "$SRC" remote get-url origin)" != "$REPO" ]; then
        git -C "$SRC" remote set-url origin "$REPO"
    fi
    if ! git -C "$SRC" fetch --quiet origin "$BRANCH"; then
        log "warning: git fetch failed; starting with the checkout as it is"
    elif [ "$(git -C "$SRC" rev-parse --abbrev-ref HEAD)" != "$BRANCH" ] \
        && ! git -C "$SRC" checkout --quiet "$BRANCH" 2>/dev/null \
        && ! git -C "$SRC" checkout --quiet -b "$BRANCH" "origin/$BRANCH"; then
        log "warning: cannot switch to $BRANCH (local changes?); starting with the checkout as it is"
    elif ! git -C "$SRC" merge --quiet --ff-only "origin/$BRANCH"; then
        # never throw away work on the volume: local commits or edits keep the old revision
        log "warning: $BRANCH cannot fast-forward to origin/$BRANCH (local commits or changes); not updated"
    fi
fi
log "revision $(git -C "$SRC" rev-parse --short HEAD) on $(git -C "$SRC" rev-parse --abbrev-ref HEAD)"

# ------------------------------------------------------------------ dependencies
[ -f "$SRC/package-lock.json" ] || die "$SRC/package-lock.json not found"
LOCK_HASH=$(sha256sum "$SRC/package-lock.json" | cut -d' ' -f1)
STAMP=$STATE/package-lock.sha256
if [ -d "$SRC/node_modules" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$LOCK_HASH" ]; then
    log "package-lock.json unchanged ($LOCK_HASH); npm ci skipped"
else
    log "package-lock.json changed or node_modules missing: npm ci"
    rm -f "$STAMP"
    (cd "$SRC" && npm ci --no-audit --no-fund) || die "npm ci failed"
    printf '%s\n' "$LOCK_HASH" >"$STAMP"
fi

# ------------------------------------------------------------------ build (only when stale)
if [ -f "$SRC/scripts/ensure-built.mjs" ]; then
    (cd "$SRC" && node scripts/ensure-built.mjs) || die "build failed"
fi

# ------------------------------------------------------------------ run
cd "$SRC"
if [ "$#" -gt 0 ]; then
    log "exec $*"
    exec "$@"
fi
export MENTATOR_APP_DIR=$SRC
export MENTATOR_HOME=${MENTATOR_HOME:-$DEV_HOME/data}
log "exec docker/start-docker.sh (data in $MENTATOR_HOME)"
exec "$SRC/docker/start-docker.sh"
