import type { ServiceConfig } from "../config/loadConfig.js";
import { storageHealth, type StorageHealthReport } from "./storageHealth.js";

export interface StorageHealthMonitorOptions {
    /** A snapshot older than this is refreshed in the background on the next read. Defaults to 30 000 ms. */
    maxAgeMs?: number;
    /** The check itself; defaults to `storageHealth(config)`. */
    check?(config: ServiceConfig): Promise<StorageHealthReport>;
}

/**
 * Keeps the last storage check for `/health`, which answers synchronously and must not wait on (or hammer)
 * remote buckets: reads return the latest snapshot and start a refresh when it has gone stale.
 */
export class StorageHealthMonitor {
    private readonly config: ServiceConfig;
    private readonly maxAgeMs: number;
    private readonly check: (config: ServiceConfig) => Promise<StorageHealthReport>;
    private snapshot: StorageHealthReport;
    private checkedAt = 0;
    private inFlight: Promise<StorageHealthReport> | undefined;

    public constructor(config: ServiceConfig, options: StorageHealthMonitorOptions = {}) {
        this.config = config;
        this.maxAgeMs = options.maxAgeMs ?? 30_000;
        this.check = options.check ?? storageHealth;
        // Until the first check answers, a configured bucket is not known to work.
        const initial = (bucket: string | undefined): StorageHealthReport["s3"] => (bucket === undefined || bucket === "" ? "not_configured" : "error");
        this.snapshot = { s3: initial(config.storage.s3.bucket), gcs: initial(config.storage.gcs.bucket) };
    }

    /** The latest snapshot; starts a background refresh when it is older than `maxAgeMs`. */
    public current(): StorageHealthReport {
        if (Date.now() - this.checkedAt > this.maxAgeMs) void this.refresh();
        return { ...this.snapshot };
    }

    /** Runs a check now (joining one already running) and returns its result. */
    public refresh(): Promise<StorageHealthReport> {
        this.inFlight ??= this.check(this.config)
            .then(
                (report) => {
                    this.snapshot = report;
                    this.checkedAt = Date.now();
                    return report;
                },
                () => {
                    // A failing check keeps the last snapshot; the next stale read tries again.
                    this.checkedAt = Date.now();
                    return { ...this.snapshot };
                }
            )
            .finally(() => {
                this.inFlight = undefined;
            });
        return this.inFlight;
    }
}
