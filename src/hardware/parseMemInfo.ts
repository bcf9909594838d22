export interface MemInfo {
    totalBytes?: number;
    /** MemAvailable, or MemFree on kernels older than 3.14. */
    availableBytes?: number;
}

/** Parses /proc/meminfo ("MemTotal:  24684084 kB"). */
export function parseMemInfo(text: string): MemInfo {
    const values = new Map<string, number>();
    for (const line of text.split("\n")) {
        const match = /^(\w+):\s+(\d+)\s*(kB)?\s*$/.exec(line.trim());
        if (match?.[1] != null && match[2] != null)
            values.set(match[1], Number(match[2]) * (match[3] != null ? 1024 : 1));
    }
    const totalBytes = values.get("MemTotal");
    const availableBytes = values.get("MemAvailable") ?? values.get("MemFree");
    return {
        ...(totalBytes != null ? { totalBytes } : {}),
        ...(availableBytes != null ? { availableBytes } : {})
    };
}
