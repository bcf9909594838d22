import type { HardwareProbes } from "./HardwareProbes.js";
import { hipRuntimeLibraries } from "./cudaRequirements.js";
import { parseRocmSmiJson } from "./parseRocmSmiJson.js";
import type { AmdGpu, AmdReport, LlamaBinaryInfo, SharedLibrary } from "./types.js";

const rocmSmiArgs = ["--showproductname", "--showmeminfo", "vram", "--json"];
const rocmSmiTimeoutMs = 10_000;
const amdVendorId = "0x1002";

/** AMD GPUs via rocm-smi (or sysfs), /dev/kfd, the HIP runtime and a node-llama-cpp HIP build. */
export async function detectAmd(probes: HardwareProbes, libraries: Map<string, SharedLibrary>, hipBinary: LlamaBinaryInfo): Promise<AmdReport> {
    const [kfd, result] = await Promise.all([
        probes.fileExists("/dev/kfd"),
        probes.runCommand("rocm-smi", rocmSmiArgs, rocmSmiTimeoutMs)
    ]);

    // rocm-smi may exit non-zero after printing valid JSON (unsupported fields), so trust the JSON.
    const parsed = result == null ? null : parseRocmSmiJson(result.stdout);
    const rocmSmi = result == null ? "missing" : parsed != null && parsed.length > 0 ? "ok" : "failed";
    const devices = parsed != null && parsed.length > 0 ? parsed : await readSysfsAmdGpus(probes);

    const hipLibraries = hipRuntimeLibraries
        .map((name) => libraries.get(name))
        .filter((library): library is SharedLibrary => library?.onLoaderPath === true);

    let reason: string;
    if (kfd)
        reason = `/dev/kfd present, ${devices.length > 0 ? `${devices.length} AMD GPU(s)` : "GPU names unknown"}` +
            (rocmSmi === "ok" ? " (rocm-smi)" : rocmSmi === "missing" ? " (rocm-smi not on PATH)" : " (rocm-smi failed)");
    else if (devices.length > 0)
        reason = `${devices.length} AMD GPU(s) seen${rocmSmi === "ok" ? " by rocm-smi" : " in sysfs"}, but /dev/kfd is missing: ` +
            "this process cannot use them for compute (in Docker pass --device /dev/kfd --device /dev/dri)";
    else if (result != null && rocmSmi === "failed")
        reason = `rocm-smi failed (${firstLine(result.stderr) ?? firstLine(result.stdout) ?? `exit code ${String(result.code)}`}) and no /dev/kfd`;
    else
        reason = "no /dev/kfd and no AMD GPU found";

    return {
        present: kfd || rocmSmi === "ok",
        rocmSmi,
        kfd,
        devices,
        hipRuntime: { found: hipLibraries.length > 0, libraries: hipLibraries.map((library) => library.path) },
        hipBuild: { found: hipBinary.found, ...(hipBinary.path != null ? { path: hipBinary.path } : {}) },
        reason
    };
}

async function readSysfsAmdGpus(probes: HardwareProbes): Promise<AmdGpu[]> {
    const devices: AmdGpu[] = [];
    const cards = (await probes.readDir("/sys/class/drm")).filter((name) => /^card\d+$/.test(name)).sort();
    for (const card of cards) {
        const base = `/sys/class/drm/${card}/device`;
        if ((await probes.readFile(`${base}/vendor`))?.trim() !== amdVendorId)
            continue;
        const productName = (await probes.readFile(`${base}/product_name`))?.trim();
        const total = toNumber(await probes.readFile(`${base}/mem_info_vram_total`));
        const used = toNumber(await probes.readFile(`${base}/mem_info_vram_used`));
        devices.push({
            name: productName != null && productName !== "" ? productName : `AMD GPU (${card})`,
            ...(total != null ? { memoryTotalBytes: total } : {}),
            ...(total != null && used != null ? { memoryFreeBytes: Math.max(0, total - used) } : {})
        });
    }
    return devices;
}

function toNumber(text: string | null): number | undefined {
    const value = text?.trim();
    return value != null && /^\d+$/.test(value) ? Number(value) : undefined;
}

function firstLine(text: string): string | undefined {
    return text.split("\n").map((part) => part.trim()).find((part) => part !== "");
}
