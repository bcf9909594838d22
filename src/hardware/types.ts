/** Backends in the order `auto` tries them. */
export const gpuBackends = ["cuda", "rocm", "vulkan", "cpu"] as const;
export type GpuBackend = (typeof gpuBackends)[number];

/** What the user may ask for with `--gpu` / `MENTATOR_GPU` / config `gpu`. */
export const gpuRequests = ["auto", ...gpuBackends] as const;
export type GpuRequest = (typeof gpuRequests)[number];

/** A shared library found on this machine. */
export interface SharedLibrary {
    /** Soname looked for, e.g. `libcudart.so.12`. */
    name: string;
    path: string;
    /**
     * Whether the dynamic loader finds it (ld.so cache or LD_LIBRARY_PATH). A library that only sits in a
     * well-known directory such as /usr/local/cuda/lib64 cannot be dlopen()ed by node-llama-cpp.
     */
    onLoaderPath: boolean;
}

export interface NvidiaGpu {
    name: string;
    memoryTotalBytes: number;
    memoryFreeBytes?: number;
}

export interface CudaRuntimeReport {
    /** True when the driver library and a complete runtime set (cudart, cublas, cublasLt) of one major are loadable. */
    found: boolean;
    /** CUDA majors with a complete, loadable runtime set (cudart + cublas + cublasLt), newest first. */
    majorVersions: number[];
    /** Paths of the CUDA/driver libraries found, loadable or not. */
    libraries: string[];
    /** Paths found only outside the loader path (need LD_LIBRARY_PATH or ldconfig). */
    offLoaderPath: string[];
    /** Whether libcuda.so.1 (installed by the driver, mounted by the NVIDIA container toolkit) is loadable. */
    driverLibraryFound: boolean;
}

export interface NvidiaReport {
    present: boolean;
    driverVersion?: string;
    devices: NvidiaGpu[];
    /** How nvidia-smi answered. */
    nvidiaSmi: "ok" | "missing" | "failed";
    cudaRuntime: CudaRuntimeReport;
    /** One line saying what was found or why nothing was. */
    reason: string;
}

export interface AmdGpu {
    name: string;
    memoryTotalBytes?: number;
    memoryFreeBytes?: number;
}

export interface AmdReport {
    present: boolean;
    rocmSmi: "ok" | "missing" | "failed";
    /** /dev/kfd exists: the amdgpu kernel driver exposes compute (ROCm) to this process. */
    kfd: boolean;
    devices: AmdGpu[];
    /** HIP runtime (libamdhip64) loadable. */
    hipRuntime: { found: boolean; libraries: string[] };
    /** A node-llama-cpp build compiled with GGML_HIP (node-llama-cpp ships none prebuilt). */
    hipBuild: { found: boolean; path?: string };
    reason: string;
}

export interface VulkanReport {
    loaderFound: boolean;
    path?: string;
    /** Hardware Vulkan driver manifests (ICDs) found; software rasterisers (lavapipe) are left out. */
    icds: string[];
    reason: string;
}

export interface CpuReport {
    model: string;
    arch: string;
    /** Physical cores (from /proc/cpuinfo), or logical CPUs when that is unknown. */
    cores: number;
    /** Logical CPUs this process may use. */
    threads?: number;
    memoryTotalBytes: number;
    /** MemAvailable (what can be allocated without swapping). */
    memoryFreeBytes: number;
    /** cgroup memory limit when lower than the machine's RAM (containers). */
    memoryLimitBytes?: number;
    /** SIMD features relevant to llama.cpp, e.g. avx, avx2, avx512f, fma, f16c, neon. */
    simd: string[];
}

/** A node-llama-cpp binary (prebuilt package or local build) for one backend. */
export interface LlamaBinaryInfo {
    found: boolean;
    source?: "prebuilt" | "localBuild";
    /** Directory holding llama-addon.node. */
    path?: string;
    /** CUDA runtime majors the CUDA binaries link against (e.g. [13, 12] with the -ext fallback). */
    cudaRuntimeMajors?: number[];
    /** Custom CMake options the build was made with; getLlama must be given the same to find it. */
    cmakeOptions?: Record<string, string>;
    reason: string;
}

export interface HardwareReport {
    os: { platform: string; arch: string; release: string };
    nvidia: NvidiaReport;
    amd: AmdReport;
    vulkan: VulkanReport;
    cpu: CpuReport;
    /** node-llama-cpp binaries present, per backend. */
    binaries: Record<GpuBackend, LlamaBinaryInfo>;
}

export interface BackendCandidate {
    backend: GpuBackend;
    usable: boolean;
    reason: string;
    /** CMake options to pass to getLlama to find the binary (only for local builds such as ROCm). */
    cmakeOptions?: Record<string, string>;
}

export interface BackendChoice {
    requested: GpuRequest;
    backend: GpuBackend;
    reason: string;
    candidates: BackendCandidate[];
}
