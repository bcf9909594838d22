const unitMs: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Converts a duration (number of seconds, or "500ms" / "30s" / "5m" / "1h") to milliseconds.
 * Negative values mean "never" and are returned as -1.
 */
export function parseDuration(value: number | string): number {
    if (typeof value === "number") {
        if (!Number.isFinite(value)) throw new Error(`invalid duration ${value}`);
        return value < 0 ? -1 : Math.round(value * 1000);
    }
    const match = /^(-?\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
    if (match === null) throw new Error(`invalid duration "${value}" (expected e.g. 30s, 5m, 1h)`);
    const amount = Number(match[1]);
    if (amount < 0) return -1;
    return Math.round(amount * unitMs[match[2] ?? "s"]!);
}
