export interface CpuInfo {
    model?: string;
    /** Physical cores: distinct (physical id, core id) pairs. */
    physicalCores?: number;
    logicalCpus: number;
    simd: string[];
}

/** SIMD flags reported, in this order; x86 names as in /proc/cpuinfo (pni is SSE3), ARM ones mapped (asimd -> neon). */
const x86Simd = ["sse3", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"];
const armSimd: Array<[flag: string, name: string]> = [["asimd", "neon"], ["neon", "neon"], ["asimddp", "dotprod"], ["asimdhp", "fp16"], ["i8mm", "i8mm"], ["sve", "sve"], ["sve2", "sve2"], ["bf16", "bf16"]];

/** Parses /proc/cpuinfo (x86 "flags", ARM "Features"). */
export function parseCpuInfo(text: string): CpuInfo {
    let model: string | undefined;
    let logicalCpus = 0;
    const flags = new Set<string>();
    const cores = new Set<string>();
    let physicalId = "0";

    for (const line of text.split("\n")) {
        const separator = line.indexOf(":");
        if (separator < 0)
            continue;
        const key = line.slice(0, separator).trim().toLowerCase();
        const value = line.slice(separator + 1).trim();
        if (key === "processor" && /^\d+$/.test(value)) {
            logicalCpus++;
            physicalId = "0";
        } else if (key === "physical id")
            physicalId = value;
        else if (key === "core id")
            cores.add(`${physicalId}:${value}`);
        else if ((key === "model name" || key === "hardware" || key === "cpu model") && model == null && value !== "")
            model = value;
        else if (key === "flags" || key === "features") {
            for (const flag of value.split(/\s+/))
                if (flag !== "")
                    flags.add(flag.toLowerCase() === "pni" ? "sse3" : flag.toLowerCase());
        }
    }

    const simd = x86Simd.filter((flag) => flags.has(flag));
    for (const [flag, name] of armSimd)
        if (flags.has(flag) && !simd.includes(name))
            simd.push(name);

    return {
        ...(model != null ? { model } : {}),
        ...(cores.size > 0 ? { physicalCores: cores.size } : {}),
        logicalCpus,
        simd
    };
}
