/** Transfer speed over a sliding window, for progress bars and ETAs. */
export class SpeedMeter {
    private readonly windowMs: number;
    private samples: Array<{ at: number; bytes: number }> = [];

    public constructor(windowMs = 5000) {
        this.windowMs = windowMs;
    }

    /** Records the running byte count and returns bytes per second over the window. */
    public update(bytes: number, now = performance.now()): number {
        this.samples.push({ at: now, bytes });
        while (this.samples.length > 2 && now - this.samples[0]!.at > this.windowMs) this.samples.shift();
        const first = this.samples[0]!;
        const elapsed = (now - first.at) / 1000;
        return elapsed > 0 ? Math.max(0, (bytes - first.bytes) / elapsed) : 0;
    }

    /** Forgets history (after a restart from zero). */
    public reset(): void {
        this.samples = [];
    }
}
