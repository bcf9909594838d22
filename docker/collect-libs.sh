#!/usr/bin/env bash
# Copies the shared libraries that ELF files need (their ldd closure) into one directory, so a runtime image
# gets a GPU stack without the multi-GB SDK image it was built in. glibc, libstdc++ and libgcc (present in
# every base image) and llama.cpp's own libraries are left out.
#
#   collect-libs.sh [--rocm-kernels "gfx90a;gfx1100"] [--rocm-dir /opt/rocm] OUT_DIR ELF...
#
# --rocm-kernels also copies rocBLAS and hipBLASLt's kernel libraries (<rocm>/lib/{rocblas,hipblaslt}/library)
# next to the libraries, only those for the given GPU architectures (plus the architecture-independent files),
# and records the architectures in OUT_DIR/targets.txt (the entrypoint checks the GPU against it).
set -euo pipefail

die() { printf 'collect-libs: error: %s\n' "$*" >&2; exit 1; }

KERNEL_TARGETS=""
ROCM_DIR=/opt/rocm
while [ "$#" -gt 0 ]; do
    case "$1" in
        --rocm-kernels) KERNEL_TARGETS=${2:?}; shift 2 ;;
        --rocm-dir) ROCM_DIR=${2:?}; shift 2 ;;
        --) shift; break ;;
        -*) die "unknown option $1" ;;
        *) break ;;
    esac
done
[ "$#" -ge 2 ] || die "usage: collect-libs.sh [--rocm-kernels TARGETS] OUT_DIR ELF..."
OUT=$1
shift
mkdir -p "$OUT"

BASE_LIBS='^(linux-vdso|ld-linux|libc|libm|libdl|librt|libpthread|libresolv|libutil|libstdc\+\+|libgcc_s)\.so'
# llama.cpp's own libraries stay next to the binaries that own them: a copy here would shadow (through
# LD_LIBRARY_PATH) the matching libraries of node-llama-cpp's other builds.
OWN_LIBS='^lib(ggml|llama|mtmd)'
count=0
for elf in "$@"; do
    [ -f "$elf" ] || die "$elf not found"
    lines=$(ldd "$elf") || die "ldd $elf failed"
    if grep -q 'not found' <<<"$lines"; then
        die "$elf has unresolved libraries: $(grep 'not found' <<<"$lines" | tr -s ' \t\n' ' ')"
    fi
    while read -r name _ path _; do
        if [ -z "${path:-}" ] || [ ! -f "$path" ]; then continue; fi
        if [[ "$name" =~ $BASE_LIBS ]] || [[ "$name" =~ $OWN_LIBS ]]; then continue; fi
        if [ ! -e "$OUT/$name" ]; then
            cp -L "$path" "$OUT/$name"
            count=$((count + 1))
        fi
    done < <(grep '=>' <<<"$lines")
done
printf 'collect-libs: %d libraries into %s\n' "$count" "$OUT" >&2

if [ -n "$KERNEL_TARGETS" ]; then
    targets=$(tr ';, ' '\n' <<<"$KERNEL_TARGETS" | grep -v '^$')
    printf '%s\n' "$targets" >"$OUT/targets.txt"
    for lib in rocblas hipblaslt; do
        src=$ROCM_DIR/lib/$lib/library
        [ -d "$src" ] || continue
        mkdir -p "$OUT/$lib/library"
        kept=0
        for f in "$src"/*; do
            name=${f##*/}
            if [[ "$name" == *gfx* ]]; then
                # keep a file only when it names one of the targets (gfx90a also matches gfx90a:xnack-)
                match=0
                while read -r t; do
                    if [[ "$name" =~ (^|[^0-9a-z])${t}([^0-9a-z]|$) ]]; then match=1; break; fi
                done <<<"$targets"
                [ "$match" = 1 ] || continue
            fi
            cp -a "$f" "$OUT/$lib/library/"
            kept=$((kept + 1))
        done
        printf 'collect-libs: %d %s kernel files for %s\n' "$kept" "$lib" "$(tr '\n' ' ' <<<"$targets")" >&2
    done
fi
