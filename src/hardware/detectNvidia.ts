import type { HardwareProbes } from "./HardwareProbes.js";
import { cudaDriverLibrary, cudaMajors, cudaRuntimeLibraries } from "./cudaRequirements.js";
import { parseNvidiaSmiCsv } from "./parseNvidiaSmiCsv.js";
import type { CudaRuntimeReport, NvidiaReport, SharedLibrary } from "./types.js";

const nvidiaSmiArgs = ["--query-gpu=name,memory.total,memory.free,driver_version", "--format=csv,noheader,nounits"];
const nvidiaSmiTimeoutMs = 10_000;

/** NVIDIA GPUs via nvidia-smi (or, without it, the kernel driver's /proc and /dev entries) and the CUDA libraries. */
export async function detectNvidia(probes: HardwareProbes, libraries: Map<string, SharedLibrary>): Promise<NvidiaReport> {
    const cudaRuntime = describeCudaRuntime(libraries);
    const result = await probes.runCommand("nvidia-smi", nvidiaSmiArgs, nvidiaSmiTimeoutMs);

    if (result != null && result.code === 0) {
        const rows = parseNvidiaSmiCsv(result.stdout);
        const driverVersion = rows.find((row) => row.driverVersion != null)?.driverVersion;
        const devices = rows.map(({ name, memoryTotalBytes, memoryFreeBytes }) => ({
            name,
            memoryTotalBytes,
            ...(memoryFreeBytes != null ? { memoryFreeBytes } : {})
        }));
        return {
            present: devices.length > 0,
            ...(driverVersion != null ? { driverVersion } : {}),
            devices,
            nvidiaSmi: "ok",
            cudaRuntime,
            reason: devices.length > 0
                ? `nvidia-smi lists ${devices.length} GPU(s), driver ${driverVersion ?? "unknown"}`
                : "nvidia-smi ran but listed no GPU"
        };
    }

    if (result != null) {
        const message = firstLine(result.stdout) ?? firstLine(result.stderr) ?? `exit code ${String(result.code)}`;
        return {
            present: false,
            devices: [],
            nvidiaSmi: "failed",
            cudaRuntime,
            reason: result.timedOut ? `nvidia-smi timed out after ${nvidiaSmiTimeoutMs / 1000} s` : `nvidia-smi failed: ${message}`
        };
    }

    // No nvidia-smi (containers often lack it): the kernel driver still shows itself in /proc and /dev.
    const procVersion = await probes.readFile("/proc/driver/nvidia/version");
    const deviceNodes = (await probes.readDir("/dev")).filter((name) => /^nvidia\d+$/.test(name));
    const driverVersion = procVersion == null ? undefined : /Kernel Module\s+(?:for\s+\S+\s+)?(\d+(?:\.\d+)+)/.exec(procVersion)?.[1];
    const present = procVersion != null && deviceNodes.length > 0;
    return {
        present,
        ...(driverVersion != null ? { driverVersion } : {}),
        devices: [],
        nvidiaSmi: "missing",
        cudaRuntime,
        reason: present
            ? `nvidia-smi not on PATH, but the NVIDIA driver${driverVersion != null ? ` ${driverVersion}` : ""} exposes ` +
                `${deviceNodes.length} device(s) (/dev/${deviceNodes.join(", /dev/")}); names and VRAM unknown`
            : "nvidia-smi not on PATH and no NVIDIA kernel driver (/proc/driver/nvidia) found"
    };
}

function describeCudaRuntime(libraries: Map<string, SharedLibrary>): CudaRuntimeReport {
    const loadable = (name: string): boolean => libraries.get(name)?.onLoaderPath === true;
    const names = [cudaDriverLibrary, ...cudaMajors.flatMap(cudaRuntimeLibraries)];
    const found = names.map((name) => libraries.get(name)).filter((library): library is SharedLibrary => library != null);
    const majorVersions = cudaMajors.filter((major) => cudaRuntimeLibraries(major).every(loadable));
    const driverLibraryFound = loadable(cudaDriverLibrary);
    return {
        found: driverLibraryFound && majorVersions.length > 0,
        majorVersions,
        libraries: found.map((library) => library.path),
        offLoaderPath: found.filter((library) => !library.onLoaderPath).map((library) => library.path),
        driverLibraryFound
    };
}

function firstLine(text: string): string | undefined {
    return text.split("\n").map((part) => part.trim()).find((part) => part !== "");
}
