import type { CommandResult, HardwareProbes, OsFacts } from "../../src/hardware/HardwareProbes.js";
import type { GpuBackend, HardwareReport, LlamaBinaryInfo, SharedLibrary } from "../../src/hardware/types.js";

export interface FakeProbesSpec {
    /** Command name -> result, or a function of the arguments. Commands not listed are "not on PATH". */
    commands?: Record<string, CommandResult | ((args: string[]) => CommandResult)>;
    /** Readable files (and so existing ones). */
    files?: Record<string, string>;
    /** Paths that exist but are not read (device nodes). */
    existing?: string[];
    dirs?: Record<string, string[]>;
    /** Libraries found; a bare name means loadable from /usr/lib/x86_64-linux-gnu. */
    libraries?: Array<string | SharedLibrary>;
    binaries?: Partial<Record<GpuBackend, LlamaBinaryInfo>>;
    os?: Partial<OsFacts>;
    env?: Record<string, string>;
}

export function ok(stdout: string): CommandResult {
    return { code: 0, stdout, stderr: "", timedOut: false };
}

export function failed(code: number, stdout: string, stderr = ""): CommandResult {
    return { code, stdout, stderr, timedOut: false };
}

export const defaultBinaries: Record<GpuBackend, LlamaBinaryInfo> = {
    cuda: { found: true, source: "prebuilt", path: "/nm/@node-llama-cpp/linux-x64-cuda/bins/linux-x64-cuda", cudaRuntimeMajors: [13, 12], reason: "prebuilt @node-llama-cpp/linux-x64-cuda 3.21.1" },
    rocm: { found: false, reason: "node-llama-cpp 3.21.1 ships no ROCm binary and no local GGML_HIP build exists" },
    vulkan: { found: true, source: "prebuilt", path: "/nm/@node-llama-cpp/linux-x64-vulkan/bins/linux-x64-vulkan", reason: "prebuilt @node-llama-cpp/linux-x64-vulkan 3.21.1" },
    cpu: { found: true, source: "prebuilt", path: "/nm/@node-llama-cpp/linux-x64/bins/linux-x64", reason: "prebuilt @node-llama-cpp/linux-x64 3.21.1" }
};

/** Probes answering from a fixed description of a machine; records the commands run. */
export function createFakeProbes(spec: FakeProbesSpec = {}): HardwareProbes & { commandsRun: Array<{ command: string; args: string[] }> } {
    const commandsRun: Array<{ command: string; args: string[] }> = [];
    const libraries = new Map<string, SharedLibrary>();
    for (const library of spec.libraries ?? []) {
        const entry = typeof library === "string" ? { name: library, path: `/usr/lib/x86_64-linux-gnu/${library}`, onLoaderPath: true } : library;
        libraries.set(entry.name, entry);
    }
    return {
        commandsRun,
        runCommand: async (command, args) => {
            commandsRun.push({ command, args });
            const result = spec.commands?.[command];
            if (result == null)
                return null;
            return typeof result === "function" ? result(args) : result;
        },
        fileExists: async (file) => spec.files?.[file] != null || (spec.existing ?? []).includes(file),
        readFile: async (file) => spec.files?.[file] ?? null,
        readDir: async (dir) => spec.dirs?.[dir] ?? [],
        findSharedLibraries: async (names) => new Map([...libraries].filter(([name]) => names.includes(name))),
        findLlamaBinary: async (backend) => spec.binaries?.[backend] ?? defaultBinaries[backend],
        os: () => ({
            platform: "linux",
            arch: "x64",
            release: "6.1.0",
            cpuModel: "Fake CPU",
            logicalCpus: 8,
            totalMemoryBytes: 16 * 1024 ** 3,
            freeMemoryBytes: 8 * 1024 ** 3,
            ...spec.os
        }),
        env: (name) => spec.env?.[name]
    };
}

/** A machine with a CPU and nothing else; tests add what they need to a copy. */
export function cpuOnlyReport(): HardwareReport {
    return {
        os: { platform: "linux", arch: "x64", release: "6.1.0" },
        nvidia: {
            present: false,
            devices: [],
            nvidiaSmi: "missing",
            cudaRuntime: { found: false, majorVersions: [], libraries: [], offLoaderPath: [], driverLibraryFound: false },
            reason: "nvidia-smi not on PATH and no NVIDIA kernel driver (/proc/driver/nvidia) found"
        },
        amd: {
            present: false,
            rocmSmi: "missing",
            kfd: false,
            devices: [],
            hipRuntime: { found: false, libraries: [] },
            hipBuild: { found: false },
            reason: "no /dev/kfd and no AMD GPU found"
        },
        vulkan: { loaderFound: false, icds: [], reason: "Vulkan loader libvulkan.so.1 not found" },
        cpu: {
            model: "Fake CPU",
            arch: "x64",
            cores: 4,
            threads: 8,
            memoryTotalBytes: 16 * 1024 ** 3,
            memoryFreeBytes: 8 * 1024 ** 3,
            simd: ["avx", "avx2", "fma", "f16c"]
        },
        binaries: structuredClone(defaultBinaries)
    };
}

/** cpuOnlyReport plus a working NVIDIA H100 with driver 580 and the CUDA 13 runtime. */
export function nvidiaReport(): HardwareReport {
    const report = cpuOnlyReport();
    report.nvidia = {
        present: true,
        driverVersion: "580.82.07",
        devices: [{ name: "NVIDIA H100 80GB HBM3", memoryTotalBytes: 81559 * 1024 ** 2, memoryFreeBytes: 81000 * 1024 ** 2 }],
        nvidiaSmi: "ok",
        cudaRuntime: {
            found: true,
            majorVersions: [13],
            libraries: ["/usr/lib/x86_64-linux-gnu/libcuda.so.1", "/usr/local/cuda/lib64/libcudart.so.13"],
            offLoaderPath: [],
            driverLibraryFound: true
        },
        reason: "nvidia-smi lists 1 GPU(s), driver 580.82.07"
    };
    return report;
}
