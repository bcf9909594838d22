#!/usr/bin/env bash
# Builds llama.cpp offline from the source node-llama-cpp ships (llama/gitRelease.bundle, plus its patches),
# with node-llama-cpp's own CMake tree, so the engine and the addon come from the same sources:
#   --engine-out DIR   llama-server and its shared libraries (the `llama-server` engine: $MENTATOR_ENGINE_DIR/<backend>)
#   --addon-out DIR    the node-llama-cpp addon, laid out as node-llama-cpp's own local build
#                      (DIR/<build folder>/Release/llama-addon.node + _nlcBuildMetadata.json, DIR/<folder>/buildDone.status)
#                      so that getLlama() finds it when given the same custom CMake options (`cmakeOptions`, or
#                      NODE_LLAMA_CPP_CMAKE_OPTION_<KEY>=<VALUE>). Used for ROCm, which has no prebuilt binary: the
#                      app loads it with getLlama({gpu: false, cmakeOptions: {GGML_HIP: "ON"}, usePrebuiltBinaries: false}).
#
#   build-llama.sh --backend cpu|cuda|rocm|vulkan --nlc node_modules/node-llama-cpp
#                  [--engine-out DIR] [--addon-out DIR] [--addon-option KEY=VALUE]...
#                  [--cuda-arch "86-real;90-real"] [--amdgpu-targets "gfx90a;gfx1100"] [--native]
#                  [--build-dir DIR] [--jobs N]
# A ROCm build passes --addon-option GGML_HIP=ON itself. --native ties the CPU code to this host (tests only).
set -euo pipefail

die() { printf 'build-llama: error: %s\n' "$*" >&2; exit 1; }
log() { printf 'build-llama: %s\n' "$*" >&2; }

BACKEND="" NLC="" ENGINE_OUT="" ADDON_OUT="" BUILD_DIR="" CUDA_ARCH="" AMDGPU_TARGETS="" NATIVE=OFF
JOBS=$(nproc)
ADDON_OPTIONS=()
while [ "$#" -gt 0 ]; do
    case "$1" in
        --backend) BACKEND=${2:?}; shift 2 ;;
        --nlc) NLC=${2:?}; shift 2 ;;
        --engine-out) ENGINE_OUT=${2:?}; shift 2 ;;
        --addon-out) ADDON_OUT=${2:?}; shift 2 ;;
        --addon-option) ADDON_OPTIONS+=("${2:?}"); shift 2 ;;
        --cuda-arch) CUDA_ARCH=${2:?}; shift 2 ;;
        --amdgpu-targets) AMDGPU_TARGETS=${2:?}; shift 2 ;;
        --native) NATIVE=ON; shift ;;
        --build-dir) BUILD_DIR=${2:?}; shift 2 ;;
        --jobs) JOBS=${2:?}; shift 2 ;;
        *) die "unknown argument $1 (see the header of $0)" ;;
    esac
done
if [ -z "$NLC" ] || [ ! -f "$NLC/package.json" ]; then
    die "--nlc must point at the node-llama-cpp package (got '$NLC')"
fi
[ -n "$ENGINE_OUT$ADDON_OUT" ] || die "nothing to build: give --engine-out and/or --addon-out"
NLC=$(cd "$NLC" && pwd)
LLAMA=$NLC/llama
NODE_MODULES=$(dirname "$NLC")
BUILD_DIR=${BUILD_DIR:-/tmp/llama-build-$BACKEND}

GPU_ARGS=()
NLC_GPU=false
case "$BACKEND" in
    cpu) ;;
    cuda)
        NLC_GPU=cuda
        # links without libcuda.so (the driver's, absent at build time)
        GPU_ARGS=(-DGGML_CUDA=ON "-DCMAKE_EXE_LINKER_FLAGS=-Wl,--allow-shlib-undefined")
        if [ -n "$CUDA_ARCH" ]; then GPU_ARGS+=("-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH"); fi ;;
    rocm)
        # node-llama-cpp 3.x has no "rocm" GPU type: a HIP build is a gpu:false build with GGML_HIP=ON
        # (at run time it reports its devices as "cuda").
        command -v hipconfig >/dev/null || die "hipconfig not found: build ROCm in a ROCm dev image"
        HIPCXX="$(hipconfig -l)/clang"
        HIP_PATH="$(hipconfig -R)"
        export HIPCXX HIP_PATH
        [ -n "$AMDGPU_TARGETS" ] || die "--amdgpu-targets is required for rocm"
        GPU_ARGS=(-DGGML_HIP=ON "-DAMDGPU_TARGETS=$AMDGPU_TARGETS" "-DGPU_TARGETS=$AMDGPU_TARGETS")
        ADDON_OPTIONS=(GGML_HIP=ON "${ADDON_OPTIONS[@]}") ;;
    vulkan)
        NLC_GPU=vulkan
        GPU_ARGS=(-DGGML_VULKAN=ON) ;;
    *) die "--backend must be cpu, cuda, rocm or vulkan (got '$BACKEND')" ;;
esac

# ------------------------------------------------------------------ source (as `node-llama-cpp source download`)
if [ ! -f "$LLAMA/llama.cpp/CMakeLists.txt" ]; then
    [ -f "$LLAMA/gitRelease.bundle" ] || die "$LLAMA/gitRelease.bundle not found (node-llama-cpp without its source)"
    log "extracting llama.cpp from $LLAMA/gitRelease.bundle"
    rm -rf "$LLAMA/llama.cpp"
    git -c advice.detachedHead=false clone --quiet "$LLAMA/gitRelease.bundle" "$LLAMA/llama.cpp"
    for patch in "$LLAMA"/patches/*.diff; do
        [ -f "$patch" ] || continue
        if patch -d "$LLAMA/llama.cpp" -p1 -R --dry-run -s -f <"$patch" >/dev/null 2>&1; then
            log "patch ${patch##*/} already in the source"
        else
            patch -d "$LLAMA/llama.cpp" -p1 -s -f <"$patch" || die "patch ${patch##*/} does not apply"
            log "applied ${patch##*/}"
        fi
    done
fi

# ------------------------------------------------------------------ addon folder name and metadata
# node-llama-cpp derives the folder from the build options (gpu + custom CMake options); ask it, so the
# runtime lookup with NODE_LLAMA_CPP_CMAKE_OPTION_<KEY> set resolves to this very folder.
FOLDER="" VARIANT="$BACKEND.engine" METADATA=""
if [ -n "$ADDON_OUT" ]; then
    command -v node >/dev/null || die "node is required on PATH to build the addon"
    OPTIONS_JSON=$(printf '%s\n' "${ADDON_OPTIONS[@]}" | node -e '
        const lines = require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean);
        const o = {};
        for (const l of lines) {
            const i = l.indexOf("=");
            if (i <= 0) { console.error("bad --addon-option " + l); process.exit(1); }
            o[l.slice(0, i)] = l.slice(i + 1);
        }
        console.log(JSON.stringify(o));')
    INFO=$(node --input-type=module -e '
        const [nlc, gpu, optionsJson] = process.argv.slice(1);
        const d = (p) => import(nlc + "/dist/" + p);
        const { getBuildFolderNameForBuildOptions } = await d("bindings/utils/getBuildFolderNameForBuildOptions.js");
        const { builtinLlamaCppRelease } = await d("bindings/utils/binariesGithubRelease.js");
        const { builtinLlamaCppGitHubRepo } = await d("config.js");
        const { getPlatformInfo } = await d("bindings/utils/getPlatformInfo.js");
        const options = JSON.parse(optionsJson);
        const buildOptions = {
            customCmakeOptions: new Map(Object.entries(options)), progressLogs: true, platform: "linux",
            platformInfo: await getPlatformInfo(), arch: process.arch, gpu: gpu === "false" ? false : gpu,
            llamaCpp: { repo: builtinLlamaCppGitHubRepo, release: builtinLlamaCppRelease }
        };
        const names = await getBuildFolderNameForBuildOptions(buildOptions);
        const metadata = { buildOptions: { ...buildOptions, customCmakeOptions: options } };
        console.log(names.withCustomCmakeOptions + "\n" + names.binVariant + "\n" + JSON.stringify(metadata));
    ' "$NLC" "$NLC_GPU" "$OPTIONS_JSON")
    FOLDER=$(sed -n 1p <<<"$INFO")
    VARIANT=$(sed -n 2p <<<"$INFO")
    METADATA=$(sed -n 3p <<<"$INFO")
    if [ -z "$FOLDER" ] || [ -z "$METADATA" ]; then die "could not compute node-llama-cpp's build folder name"; fi
    log "addon folder $FOLDER (variant $VARIANT)"
fi

# ------------------------------------------------------------------ configure + build
CUSTOM_ARGS=()
for kv in "${ADDON_OPTIONS[@]}"; do CUSTOM_ARGS+=("-D$kv"); done
TARGETS=()
[ -n "$ENGINE_OUT" ] && TARGETS+=(llama-server)
[ -n "$ADDON_OUT" ] && TARGETS+=(llama-addon)
CPU_ARGS=(-DGGML_NATIVE=ON)
if [ "$NATIVE" = OFF ]; then
    # portable: one CPU backend per x86 level, chosen at run time (as node-llama-cpp's prebuilt binaries)
    CPU_ARGS=(-DGGML_NATIVE=OFF -DGGML_BACKEND_DL=ON -DGGML_CPU_ALL_VARIANTS=ON)
fi
GENERATOR=()
if command -v ninja >/dev/null; then GENERATOR=(-G Ninja); fi

log "configuring $BACKEND in $BUILD_DIR"
# The cmake-js variables (what `cmake-js compile` passes for a Node-API addon) and node-llama-cpp's own options.
cmake -S "$LLAMA" -B "$BUILD_DIR" "${GENERATOR[@]}" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CONFIGURATION_TYPES=Release -DCMAKE_JS_VERSION=8.0.0 \
    "-DCMAKE_JS_INC=$NODE_MODULES/node-api-headers/include;$NODE_MODULES/node-addon-api" -DCMAKE_JS_SRC= -DCMAKE_JS_LIB= \
    -DNODE_RUNTIME=node "-DNODE_RUNTIMEVERSION=$(node -p 'process.versions.node' 2>/dev/null || echo 20.0.0)" -DNODE_ARCH=x64 \
    "-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=$BUILD_DIR/Release" -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION \
    -DGGML_BUILD_NUMBER=1 -DNLC_CURRENT_PLATFORM=linux-x64 -DNLC_TARGET_PLATFORM=linux-x64 "-DNLC_VARIANT=$VARIANT" \
    -DGGML_METAL=OFF -DGGML_CCACHE=OFF -DGGML_OPENMP=OFF -DLLAMA_CURL=OFF -DLLAMA_HTTPLIB=OFF \
    -DLLAMA_BUILD_BORINGSSL=OFF -DLLAMA_OPENSSL=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF \
    "${CPU_ARGS[@]}" "${GPU_ARGS[@]}" "${CUSTOM_ARGS[@]}"
log "building ${TARGETS[*]} with $JOBS jobs"
cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}"

# ------------------------------------------------------------------ lay out
shopt -s nullglob
LIBS=("$BUILD_DIR"/bin/*.so*)
if [ -n "$ENGINE_OUT" ]; then
    mkdir -p "$ENGINE_OUT"
    cp -a "$BUILD_DIR/bin/llama-server" "${LIBS[@]}" "$ENGINE_OUT/"
    log "engine: $ENGINE_OUT/llama-server"
fi
if [ -n "$ADDON_OUT" ]; then
    dest=$ADDON_OUT/$FOLDER
    rm -rf "$dest"
    mkdir -p "$dest/Release"
    cp -a "$BUILD_DIR/Release/llama-addon.node" "${LIBS[@]}" "$dest/Release/"
    printf '%s' "$METADATA" >"$dest/Release/_nlcBuildMetadata.json"
    : >"$dest/buildDone.status"
    log "addon: $dest"
fi
