/** CUDA runtime majors looked for, newest first. */
export const cudaMajors = [13, 12, 11] as const;

/** Libraries one CUDA major needs at run time (what libggml-cuda.so links). */
export function cudaRuntimeLibraries(major: number): string[] {
    return [`libcudart.so.${major}`, `libcublas.so.${major}`, `libcublasLt.so.${major}`];
}

/** Installed by the NVIDIA driver (or mounted by the NVIDIA container toolkit), not by the CUDA toolkit. */
export const cudaDriverLibrary = "libcuda.so.1";

/** Oldest Linux driver each CUDA major runs on (NVIDIA's CUDA toolkit release notes, minor version compatibility). */
export const minimumDriverForCuda: Readonly<Record<number, string>> = {
    11: "450.80.02",
    12: "525.60.13",
    13: "580.65.06"
};

export const hipRuntimeLibraries = ["libamdhip64.so.7", "libamdhip64.so.6", "libamdhip64.so.5"];
export const vulkanLoaderLibrary = "libvulkan.so.1";

/** Every library detection asks for, so the search (and `ldconfig -p`) runs once. */
export function allProbedLibraries(): string[] {
    return [cudaDriverLibrary, ...cudaMajors.flatMap(cudaRuntimeLibraries), ...hipRuntimeLibraries, vulkanLoaderLibrary];
}

/** Compares dotted versions numerically: negative when a < b. */
export function compareVersions(a: string, b: string): number {
    const left = a.split(".").map(Number);
    const right = b.split(".").map(Number);
    for (let i = 0; i < Math.max(left.length, right.length); i++) {
        const difference = (left[i] ?? 0) - (right[i] ?? 0);
        if (difference !== 0)
            return difference;
    }
    return 0;
}
