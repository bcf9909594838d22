import type { NvidiaGpu } from "./types.js";

export interface NvidiaSmiGpuRow extends NvidiaGpu {
    driverVersion?: string;
}

const mebibyte = 1024 * 1024;

/**
 * Parses `nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv,noheader,nounits`
 * (memory in MiB). Fields are read from the right, so a GPU name containing a comma survives.
 * "[N/A]" / "[Not Supported]" values become undefined; a row without a name or total memory is skipped.
 */
export function parseNvidiaSmiCsv(text: string): NvidiaSmiGpuRow[] {
    const rows: NvidiaSmiGpuRow[] = [];
    for (const line of text.split("\n")) {
        const fields = line.split(",").map((field) => field.trim());
        if (fields.length < 4)
            continue;
        const driverVersion = fields.pop();
        const free = fields.pop();
        const total = fields.pop();
        const name = fields.join(", ");
        const totalMiB = parseNumber(total);
        if (name === "" || totalMiB == null)
            continue;
        const freeMiB = parseNumber(free);
        rows.push({
            name,
            memoryTotalBytes: Math.round(totalMiB * mebibyte),
            ...(freeMiB != null ? { memoryFreeBytes: Math.round(freeMiB * mebibyte) } : {}),
            ...(driverVersion != null && /^\d+(\.\d+)*$/.test(driverVersion) ? { driverVersion } : {})
        });
    }
    return rows;
}

function parseNumber(value: string | undefined): number | undefined {
    if (value == null || !/^\d+(\.\d+)?$/.test(value))
        return undefined;
    return Number(value);
}
