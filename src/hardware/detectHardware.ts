import { allProbedLibraries } from "./cudaRequirements.js";
import { detectAmd } from "./detectAmd.js";
import { detectCpu } from "./detectCpu.js";
import { detectNvidia } from "./detectNvidia.js";
import { detectVulkan } from "./detectVulkan.js";
import { systemProbes, type HardwareProbes } from "./HardwareProbes.js";
import { gpuBackends, type GpuBackend, type HardwareReport, type LlamaBinaryInfo } from "./types.js";

/** Looks at GPUs, their libraries, the CPU and the node-llama-cpp binaries present. Never throws for missing hardware. */
export async function detectHardware(probes: HardwareProbes = systemProbes): Promise<HardwareReport> {
    const facts = probes.os();
    const [libraries, binaryList] = await Promise.all([
        probes.findSharedLibraries(allProbedLibraries()),
        Promise.all(gpuBackends.map(async (backend) => [backend, await probes.findLlamaBinary(backend)] as const))
    ]);
    const binaries = Object.fromEntries(binaryList) as Record<GpuBackend, LlamaBinaryInfo>;

    const [nvidia, amd, vulkan, cpu] = await Promise.all([
        detectNvidia(probes, libraries),
        detectAmd(probes, libraries, binaries.rocm),
        detectVulkan(probes, libraries),
        detectCpu(probes)
    ]);
    return {
        os: { platform: facts.platform, arch: facts.arch, release: facts.release },
        nvidia,
        amd,
        vulkan,
        cpu,
        binaries
    };
}
