#!/usr/bin/env bash
# Container entrypoint for Mentator LLM Service.
#
#   1. picks the compute mode: MENTATOR_GPU if the user set it, else NVIDIA (nvidia-smi works or /dev/nvidia*
#      exists), else AMD (rocm-smi works, or /dev/kfd and /dev/dri exist), else CPU; logs the mode and why;
#   2. exports MENTATOR_GPU and the library paths of the runtime this image ships for that mode;
#   3. seeds the baked default models into the models dir when it holds no GGUF (atomic, never overwrites);
#   4. as root, drops to the volume's owner (or to `mentator` on a fresh volume) when the volume allows;
#   5. execs `node distjs/index.js --conf-docker <data>/mentator-llm-service.conf.jsonc`, or the given command.
#
# Environment (all optional):
#   MENTATOR_ROOT        image root (default /opt/mentator-llm-service)
#   MENTATOR_HOME        data dir (default $MENTATOR_ROOT/data, the volume)
#   MODELS_DIR           models dir (default $MENTATOR_HOME/models)
#   MENTATOR_GPU         cuda|rocm|vulkan|cpu forces the mode; auto or unset detects
#   MENTATOR_APP_DIR     the app (default $MENTATOR_ROOT/app); MENTATOR_NODE the node binary (default node)
#   MENTATOR_DEV_ROOT    prefix for /dev and /sys lookups (tests)
#   MENTATOR_USER        unprivileged user for fresh volumes (default mentator)
#   MENTATOR_RUN_AS_ROOT 1 keeps root even when the volume would allow dropping privileges
#   MENTATOR_SKIP_SEED   1 skips copying the default models
set -euo pipefail

log() { printf '[start-docker] %s\n' "$*" >&2; }
die() { printf '[start-docker] error: %s\n' "$*" >&2; exit "${2:-1}"; }

ROOT=${MENTATOR_ROOT:-/opt/mentator-llm-service}
DATA=${MENTATOR_HOME:-$ROOT/data}
MODELS=${MODELS_DIR:-$DATA/models}
DEFAULTS=$ROOT/default-models
CONF=$DATA/mentator-llm-service.conf.jsonc
APP_DIR=${MENTATOR_APP_DIR:-$ROOT/app}
NODE_BIN=${MENTATOR_NODE:-node}
DEV_ROOT=${MENTATOR_DEV_ROOT:-}
CUDA_LIB=$ROOT/lib/cuda
ROCM_LIB=$ROOT/lib/rocm

# ---------------------------------------------------------------------------------------------- GPU detection
MODE=""
REASON=""

first_match() {   # first existing path among the arguments (globs that matched nothing stay literal)
    local p
    for p in "$@"; do
        if [ -e "$p" ]; then printf '%s' "$p"; return 0; fi
    done
    return 1
}

detect_nvidia() {
    local out dev
    if command -v nvidia-smi >/dev/null 2>&1; then
        if out=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null) \
            && [ -n "$out" ]; then
            REASON="nvidia-smi sees $(printf '%s\n' "$out" | wc -l | tr -d ' ') GPU(s): $(printf '%s' "$out" | head -n 1)"
            warn_old_nvidia_driver "$out"
            return 0
        fi
        NVIDIA_NOTE="nvidia-smi failed"
    else
        NVIDIA_NOTE="no nvidia-smi"
    fi
    if dev=$(first_match "$DEV_ROOT"/dev/nvidia[0-9]*); then
        REASON="$dev exists ($NVIDIA_NOTE)"
        return 0
    fi
    return 1
}

warn_old_nvidia_driver() {
    # The CUDA 13 runtime needs driver 580+; older drivers use node-llama-cpp's CUDA 12 fallback build.
    local driver major
    driver=$(printf '%s\n' "$1" | head -n 1 | cut -d, -f2 | tr -d ' ')
    major=${driver%%.*}
    if [[ "$major" =~ ^[0-9]+$ ]] && [ "$major" -lt 580 ]; then
        log "note: NVIDIA driver $driver is older than 580 (CUDA 13); node-llama-cpp uses its CUDA 12 fallback," \
            "and the bundled CUDA llama-server engine needs a newer driver"
    fi
}

detect_amd() {
    local dri
    if command -v rocm-smi >/dev/null 2>&1; then
        if rocm-smi --showproductname >/dev/null 2>&1; then
            REASON="rocm-smi sees an AMD GPU"
            return 0
        fi
        AMD_NOTE="rocm-smi failed"
    else
        AMD_NOTE="no rocm-smi"
    fi
    dri="$DEV_ROOT/dev/dri"
    if [ -e "$DEV_ROOT/dev/kfd" ] && [ -d "$dri" ]; then
        REASON="$DEV_ROOT/dev/kfd and $dri exist ($AMD_NOTE)"
        return 0
    fi
    return 1
}

# gfx_target_version 90010 -> gfx90a, 110000 -> gfx1100 (major, then minor and stepping in hex)
gfx_name() {
    local v=$1
    printf 'gfx%d%x%x' $((v / 10000)) $(((v / 100) % 100)) $((v % 100))
}

# The AMD GPUs' gfx names from the KFD topology (or HSA_OVERRIDE_GFX_VERSION), one per line.
amd_gfx_targets() {
    local f v maj min step
    if [ -n "${HSA_OVERRIDE_GFX_VERSION:-}" ]; then
        IFS=. read -r maj min step <<<"$HSA_OVERRIDE_GFX_VERSION"
        gfx_name $((maj * 10000 + min * 100 + step)); echo
        return 0
    fi
    for f in "$DEV_ROOT"/sys/class/kfd/kfd/topology/nodes/*/properties; do
        [ -r "$f" ] || continue
        v=$(sed -n 's/^gfx_target_version[[:space:]]\{1,\}\([0-9]\{1,\}\)$/\1/p' "$f")
        if [ -n "$v" ] && [ "$v" != 0 ]; then gfx_name "$v"; echo; fi
    done
}

# ROCm mode needs the HIP build for the GPU's architecture; otherwise Vulkan drives the GPU.
check_rocm_targets() {
    local built gpus g unsupported=""
    [ -f "$ROCM_LIB/targets.txt" ] || return 0
    built=$(sed 's/[;, ]\{1,\}/\n/g' "$ROCM_LIB/targets.txt" | grep -v '^$' || true)
    gpus=$(amd_gfx_targets | sort -u)
    [ -n "$gpus" ] || return 0
    for g in $gpus; do
        printf '%s\n' "$built" | grep -qx "$g" || unsupported="$unsupported $g"
    done
    if [ -n "$unsupported" ]; then
        MODE=vulkan
        REASON="$REASON; GPU arch${unsupported} not in this image's ROCm build ($(printf '%s' "$built" | tr '\n' ' ')), using Vulkan (set HSA_OVERRIDE_GFX_VERSION or build with AMDGPU_TARGETS)"
    fi
}

choose_mode() {
    local requested=${MENTATOR_GPU:-auto}
    NVIDIA_NOTE="" AMD_NOTE=""
    case "$requested" in
        cuda|rocm|vulkan|cpu)
            MODE=$requested
            REASON="MENTATOR_GPU=$requested set by the user"
            return 0 ;;
        auto|"") ;;
        *) die "MENTATOR_GPU=$requested is not one of auto, cuda, rocm, vulkan, cpu" 2 ;;
    esac
    if detect_nvidia; then
        MODE=cuda
    elif detect_amd; then
        MODE=rocm
        check_rocm_targets
    else
        MODE=cpu
        REASON="no NVIDIA GPU ($NVIDIA_NOTE, no $DEV_ROOT/dev/nvidia*) and no AMD GPU ($AMD_NOTE, no $DEV_ROOT/dev/kfd + $DEV_ROOT/dev/dri)"
    fi
    # A GPU this image has no runtime for (the small prod-cpu image) runs on the CPU.
    if [ "$MODE" = cuda ] && [ ! -d "$CUDA_LIB" ]; then
        REASON="$REASON, but this image has no CUDA runtime ($CUDA_LIB); use the prod image for the GPU"
        MODE=cpu
    elif [ "$MODE" = rocm ] && [ ! -d "$ROCM_LIB" ]; then
        REASON="$REASON, but this image has no ROCm runtime ($ROCM_LIB); use the prod image for the GPU"
        MODE=cpu
    fi
}

prepend_path() {   # prepend_path VAR DIR: DIR first, the previous value kept
    local cur=${!1:-}
    printf -v "$1" '%s' "$2${cur:+:$cur}"
    export "${1?}"
}

export_mode() {
    export MENTATOR_GPU=$MODE
    case "$MODE" in
        cuda)
            if [ -d "$CUDA_LIB" ]; then prepend_path LD_LIBRARY_PATH "$CUDA_LIB"; fi ;;
        rocm)
            if [ -d "$ROCM_LIB" ]; then
                prepend_path LD_LIBRARY_PATH "$ROCM_LIB"
                export ROCBLAS_TENSILE_LIBPATH="${ROCBLAS_TENSILE_LIBPATH:-$ROCM_LIB/rocblas/library}"
                export HIPBLASLT_TENSILE_LIBPATH="${HIPBLASLT_TENSILE_LIBPATH:-$ROCM_LIB/hipblaslt/library}"
            fi ;;
    esac
}

# ---------------------------------------------------------------------------------------------- data volume
CREATED=()   # paths this script created (handed to the unprivileged user)

ensure_dir() {
    if [ ! -d "$1" ]; then
        mkdir -p -- "$1" || die "cannot create $1 (is the volume mounted read-only or owned by another user?)"
        CREATED+=("$1")
    fi
}

seed_models() {
    local f name dest tmp copied=0
    ensure_dir "$MODELS"
    # leftovers of an interrupted copy
    for f in "$MODELS"/.*.seed-tmp.*; do
        if [ -f "$f" ]; then rm -f -- "$f"; fi
    done
    if [ "${MENTATOR_SKIP_SEED:-0}" = 1 ]; then
        log "seeding skipped (MENTATOR_SKIP_SEED=1)"
        return 0
    fi
    if first_match "$MODELS"/*.gguf >/dev/null; then
        log "models: $MODELS already holds GGUF files; default models not copied"
        return 0
    fi
    for f in "$DEFAULTS"/*; do
        [ -f "$f" ] || continue
        name=${f##*/}
        dest=$MODELS/$name
        if [ -e "$dest" ]; then
            log "models: keeping existing $dest"
            continue
        fi
        tmp=$MODELS/.$name.seed-tmp.$$
        log "models: copying default $name into $MODELS"
        if ! cp -- "$f" "$tmp"; then
            rm -f -- "$tmp"
            die "copying $f to $MODELS failed (disk full or volume not writable?)"
        fi
        mv -n -- "$tmp" "$dest"
        rm -f -- "$tmp"
        CREATED+=("$dest")
        copied=$((copied + 1))
    done
    if [ "$copied" = 0 ] && ! first_match "$MODELS"/*.gguf >/dev/null; then
        log "models: no GGUF in $MODELS and no default models in $DEFAULTS; put a model there" \
            "(mentator models pull URI) before /health/ready can pass"
    fi
}

# ---------------------------------------------------------------------------------------------- privileges
RUN_AS=()   # prefix that drops privileges, empty to keep the current user

device_groups() {   # gids owning the GPU device nodes the mode needs, comma separated
    local p gids=()
    case "$MODE" in
        rocm|vulkan) set -- "$DEV_ROOT"/dev/kfd "$DEV_ROOT"/dev/dri/renderD* "$DEV_ROOT"/dev/dri/card* ;;
        cuda) set -- "$DEV_ROOT"/dev/nvidia* ;;
        *) set -- ;;
    esac
    for p in "$@"; do
        if [ -e "$p" ]; then gids+=("$(stat -c %g -- "$p")"); fi
    done
    [ "${#gids[@]}" -gt 0 ] || return 0
    printf '%s\n' "${gids[@]}" | sort -un | { grep -vx 0 || true; } | paste -sd, -
}

choose_user() {
    local owner uid gid user=${MENTATOR_USER:-mentator} groups
    if [ "$(id -u)" != 0 ]; then
        [ -w "$DATA" ] || die "data dir $DATA is not writable by uid $(id -u); give it to this uid" \
            "(chown -R $(id -u):$(id -g) on the host dir, or fsGroup in Kubernetes), or run as root"
        log "running as uid $(id -u)"
        return 0
    fi
    if [ "${MENTATOR_RUN_AS_ROOT:-0}" = 1 ]; then
        log "running as root (MENTATOR_RUN_AS_ROOT=1)"
        return 0
    fi
    if ! command -v setpriv >/dev/null 2>&1; then
        log "running as root (setpriv not found)"
        return 0
    fi
    owner=$(stat -c %u:%g -- "$DATA")
    uid=${owner%%:*}
    gid=${owner##*:}
    if [ "$uid" = 0 ]; then
        # A root-owned volume is adopted only when fresh: chowning a user's existing files is not ours to do.
        if ! id -u "$user" >/dev/null 2>&1; then
            log "running as root (user $user not found)"
            return 0
        fi
        if ! data_is_fresh; then
            log "running as root: $DATA is owned by root and holds files; to run unprivileged," \
                "chown -R $(id -u "$user"):$(id -g "$user") it (any non-root owner is adopted)"
            return 0
        fi
        uid=$(id -u "$user")
        gid=$(id -g "$user")
        if ! chown "$uid:$gid" -- "$DATA"; then
            log "running as root: cannot chown $DATA to $user (a network volume without chown?)"
            return 0
        fi
        log "fresh volume $DATA given to $user ($uid:$gid)"
    fi
    if [ "${#CREATED[@]}" -gt 0 ]; then
        chown "$uid:$gid" -- "${CREATED[@]}" || die "cannot chown ${CREATED[*]} to $uid:$gid"
    fi
    groups=$(device_groups)
    if [ -n "$groups" ]; then
        RUN_AS=(setpriv "--reuid=$uid" "--regid=$gid" "--groups=$groups" --)
    else
        RUN_AS=(setpriv "--reuid=$uid" "--regid=$gid" --clear-groups --)
    fi
    export HOME=/tmp
    log "dropping privileges to uid $uid gid $gid${groups:+ (device groups $groups)}"
}

# The data dir is fresh when this script created it or everything in it.
data_is_fresh() {
    local entry c known
    for c in "${CREATED[@]}"; do
        [ "$c" = "$DATA" ] && return 0
    done
    for entry in "$DATA"/* "$DATA"/.[!.]*; do
        [ -e "$entry" ] || continue
        known=0
        for c in "${CREATED[@]}"; do
            if [ "$entry" = "$c" ]; then known=1; break; fi
        done
        [ "$known" = 1 ] || return 1
    done
    return 0
}

# ---------------------------------------------------------------------------------------------- main
choose_mode
export_mode
log "mode=$MODE ($REASON)"
ensure_dir "$DATA"
export MENTATOR_HOME=$DATA
seed_models
choose_user

[ -f "$APP_DIR/distjs/index.js" ] || die "$APP_DIR/distjs/index.js not found (set MENTATOR_APP_DIR, or build with npm run buildjs)"
cd "$APP_DIR"

if [ "$#" -eq 0 ]; then
    set -- "$NODE_BIN" "$APP_DIR/distjs/index.js" --conf-docker "$CONF"
elif [[ "$1" == -* ]] || ! command -v "$1" >/dev/null 2>&1; then
    # `worker`, `doctor`, `--help`: a mentator subcommand
    set -- "$NODE_BIN" "$APP_DIR/distjs/index.js" "$@"
fi
log "exec $*"
exec "${RUN_AS[@]}" "$@"
