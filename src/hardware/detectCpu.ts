import type { HardwareProbes } from "./HardwareProbes.js";
import { parseCpuInfo } from "./parseCpuInfo.js";
import { parseMemInfo } from "./parseMemInfo.js";
import type { CpuReport } from "./types.js";

const cgroupMemoryLimitFiles = ["/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"];

/** CPU model, cores, SIMD flags and memory (/proc where available, `os` otherwise). */
export async function detectCpu(probes: HardwareProbes): Promise<CpuReport> {
    const facts = probes.os();
    const [cpuinfoText, meminfoText] = await Promise.all([probes.readFile("/proc/cpuinfo"), probes.readFile("/proc/meminfo")]);
    const cpuinfo = cpuinfoText != null ? parseCpuInfo(cpuinfoText) : null;
    const meminfo = meminfoText != null ? parseMemInfo(meminfoText) : {};
    const memoryTotalBytes = meminfo.totalBytes ?? facts.totalMemoryBytes;
    const memoryLimitBytes = await readCgroupMemoryLimit(probes);

    return {
        model: cpuinfo?.model ?? facts.cpuModel,
        arch: facts.arch,
        cores: cpuinfo?.physicalCores ?? facts.logicalCpus,
        threads: facts.logicalCpus,
        memoryTotalBytes,
        memoryFreeBytes: meminfo.availableBytes ?? facts.freeMemoryBytes,
        ...(memoryLimitBytes != null && memoryLimitBytes < memoryTotalBytes ? { memoryLimitBytes } : {}),
        simd: cpuinfo?.simd ?? []
    };
}

/** cgroup v2 memory.max ("max" = none) or v1 limit_in_bytes (a huge number = none). */
async function readCgroupMemoryLimit(probes: HardwareProbes): Promise<number | undefined> {
    for (const file of cgroupMemoryLimitFiles) {
        const value = (await probes.readFile(file))?.trim();
        if (value != null && /^\d+$/.test(value))
            return Number(value);
    }
    return undefined;
}
