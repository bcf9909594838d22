import type { ServiceConfig } from "../config/loadConfig.js";
import { createOutputSink } from "./createOutputSink.js";
import type { SinkHealth } from "./OutputSink.js";

/** `/health` → `storage`: each object store output can go to. */
export interface StorageHealthReport {
    s3: SinkHealth;
    gcs: SinkHealth;
}

async function checkSink(mode: "s3" | "gcs", bucket: string | undefined, config: ServiceConfig): Promise<SinkHealth> {
    if (bucket === undefined || bucket === "") return "not_configured";
    try {
        return await (await createOutputSink(mode, config)).health();
    } catch {
        // A configured bucket with unusable settings (half a key pair, unreadable key file) is an error, not absent.
        return "error";
    }
}

/** Checks both object stores at once: `not_configured` without a bucket, else whether the bucket answers. */
export async function storageHealth(config: ServiceConfig): Promise<StorageHealthReport> {
    const [s3, gcs] = await Promise.all([checkSink("s3", config.storage.s3.bucket, config), checkSink("gcs", config.storage.gcs.bucket, config)]);
    return { s3, gcs };
}
