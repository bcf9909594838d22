import { compareVersions, cudaDriverLibrary, cudaMajors, minimumDriverForCuda } from "./cudaRequirements.js";
import { formatBytes } from "./formatBytes.js";
import type { AmdGpu, BackendCandidate, HardwareReport, NvidiaGpu } from "./types.js";

/** Decides, for every backend in `auto` order, whether it can be used here and why (not). Pure. */
export function evaluateBackends(report: HardwareReport): BackendCandidate[] {
    return [evaluateCuda(report), evaluateRocm(report), evaluateVulkan(report), evaluateCpu(report)];
}

function evaluateCuda({ nvidia, binaries }: HardwareReport): BackendCandidate {
    const unusable = (reason: string): BackendCandidate => ({ backend: "cuda", usable: false, reason });
    const runtime = nvidia.cudaRuntime;
    if (!nvidia.present)
        return unusable(`no NVIDIA GPU: ${nvidia.reason}`);
    if (!runtime.driverLibraryFound) {
        const elsewhere = runtime.offLoaderPath.find((file) => file.endsWith(`/${cudaDriverLibrary}`));
        return unusable(elsewhere != null
            ? `NVIDIA GPU found, but ${cudaDriverLibrary} is at ${elsewhere}, not on the loader path (add its directory to LD_LIBRARY_PATH)`
            : `NVIDIA GPU found, but the driver library ${cudaDriverLibrary} is missing (in a container, run with the NVIDIA container toolkit: --gpus all)`);
    }
    const binary = binaries.cuda;
    if (!binary.found)
        return unusable(`no node-llama-cpp CUDA binary: ${binary.reason}`);

    const wanted = binary.cudaRuntimeMajors ?? [...cudaMajors];
    const present = runtime.majorVersions.filter((major) => wanted.includes(major));
    if (present.length === 0) {
        const offPath = runtime.offLoaderPath.length > 0
            ? `; found outside the loader path: ${runtime.offLoaderPath.join(", ")} (add to LD_LIBRARY_PATH)`
            : "";
        return unusable(`the CUDA binary needs the CUDA ${wanted.join(" or ")} runtime (libcudart, libcublas, libcublasLt) on the loader path; ` +
            `complete runtime found: ${runtime.majorVersions.length > 0 ? runtime.majorVersions.join(", ") : "none"}${offPath}`);
    }
    const driver = nvidia.driverVersion;
    const supported = driver == null
        ? present
        : present.filter((major) => compareVersions(driver, minimumDriverForCuda[major] ?? "0") >= 0);
    if (supported.length === 0) {
        const needs = present.map((major) => `CUDA ${major} needs >= ${minimumDriverForCuda[major] ?? "?"}`).join(", ");
        return unusable(`NVIDIA driver ${driver ?? "unknown"} is too old for the CUDA runtime found (${needs})`);
    }
    return {
        backend: "cuda",
        usable: true,
        reason: `${describeGpus(nvidia.devices, "NVIDIA GPU")}, driver ${driver ?? "unknown"}, CUDA runtime ${supported.join("/")}, ${binary.reason}`
    };
}

function evaluateRocm({ amd, binaries }: HardwareReport): BackendCandidate {
    const unusable = (reason: string): BackendCandidate => ({ backend: "rocm", usable: false, reason });
    if (!amd.present)
        return unusable(`no AMD GPU: ${amd.reason}`);
    if (!amd.kfd)
        return unusable(amd.reason);
    const binary = binaries.rocm;
    if (!binary.found)
        return unusable(`AMD GPU found, but ${binary.reason}`);
    if (!amd.hipRuntime.found)
        return unusable("AMD GPU and HIP build found, but the HIP runtime (libamdhip64.so) is not on the loader path (install ROCm, or add /opt/rocm/lib to LD_LIBRARY_PATH)");
    return {
        backend: "rocm",
        usable: true,
        reason: `${describeGpus(amd.devices, "AMD GPU")}, HIP runtime ${amd.hipRuntime.libraries[0] ?? ""}, ${binary.reason}`,
        ...(binary.cmakeOptions != null ? { cmakeOptions: binary.cmakeOptions } : {})
    };
}

function evaluateVulkan({ vulkan, binaries }: HardwareReport): BackendCandidate {
    const unusable = (reason: string): BackendCandidate => ({ backend: "vulkan", usable: false, reason });
    if (!vulkan.loaderFound || vulkan.icds.length === 0)
        return unusable(vulkan.reason);
    const binary = binaries.vulkan;
    if (!binary.found)
        return unusable(`no node-llama-cpp Vulkan binary: ${binary.reason}`);
    return { backend: "vulkan", usable: true, reason: `${vulkan.reason}, ${binary.reason}` };
}

function evaluateCpu({ cpu, binaries }: HardwareReport): BackendCandidate {
    const binary = binaries.cpu;
    if (!binary.found)
        return { backend: "cpu", usable: false, reason: `no node-llama-cpp CPU binary: ${binary.reason}` };
    const simd = cpu.simd.length > 0 ? cpu.simd.join(" ") : "no SIMD flags known";
    return {
        backend: "cpu",
        usable: true,
        reason: `${cpu.model}, ${cpu.cores} cores, ${simd}, ${formatBytes(cpu.memoryLimitBytes ?? cpu.memoryTotalBytes)} RAM, ${binary.reason}`
    };
}

function describeGpus(devices: Array<NvidiaGpu | AmdGpu>, fallback: string): string {
    if (devices.length === 0)
        return fallback;
    return devices
        .map((device) => device.memoryTotalBytes != null ? `${device.name} (${formatBytes(device.memoryTotalBytes)})` : device.name)
        .join(", ");
}
