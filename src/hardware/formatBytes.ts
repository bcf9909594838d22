const units = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 -> "1.5 KiB"; binary units, as nvidia-smi and free(1) use. */
export function formatBytes(bytes: number): string {
    let value = bytes;
    let unit = 0;
    while (Math.abs(value) >= 1024 && unit < units.length - 1) {
        value /= 1024;
        unit++;
    }
    const text = unit === 0 || value >= 100 ? Math.round(value).toString() : value.toFixed(1);
    return `${text} ${units[unit] ?? "B"}`;
}
