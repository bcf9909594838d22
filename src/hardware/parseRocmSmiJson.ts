import type { AmdGpu } from "./types.js";

/** Name keys by preference; "Card Model" is only a PCI id (0x74a1), so it is not one of them. */
const namePatterns = [/^card series$/i, /^device name$/i, /^marketing name$/i, /^product name$/i];

/**
 * Parses `rocm-smi --showproductname --showmeminfo vram --json`: an object with one `cardN` entry per GPU.
 * Key names changed between ROCm releases ("Card series", "Card Series", "Device Name", ...), so keys are
 * matched loosely. Returns null when the text is not the expected JSON.
 */
export function parseRocmSmiJson(text: string): AmdGpu[] | null {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        return null;
    }
    if (parsed == null || typeof parsed !== "object" || Array.isArray(parsed))
        return null;

    const devices: AmdGpu[] = [];
    const cards = Object.entries(parsed as Record<string, unknown>)
        .filter(([key]) => /^card\d+$/i.test(key))
        .sort(([a], [b]) => Number(a.slice(4)) - Number(b.slice(4)));
    for (const [key, value] of cards) {
        if (value == null || typeof value !== "object")
            continue;
        const fields = value as Record<string, unknown>;
        const name = namePatterns.map((pattern) => pick(fields, pattern)).find((value) => value != null) ?? key;
        const total = toNumber(pick(fields, /^vram total memory \(b\)$/i));
        const used = toNumber(pick(fields, /^vram total used memory \(b\)$/i));
        devices.push({
            name,
            ...(total != null ? { memoryTotalBytes: total } : {}),
            ...(total != null && used != null ? { memoryFreeBytes: Math.max(0, total - used) } : {})
        });
    }
    return devices;
}

function pick(fields: Record<string, unknown>, pattern: RegExp): string | undefined {
    for (const [key, value] of Object.entries(fields)) {
        if (pattern.test(key.trim()) && (typeof value === "string" || typeof value === "number") && String(value).trim() !== "")
            return String(value).trim();
    }
    return undefined;
}

function toNumber(value: string | undefined): number | undefined {
    if (value == null || !/^\d+$/.test(value))
        return undefined;
    return Number(value);
}
