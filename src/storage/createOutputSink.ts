import type { ServiceConfig } from "../config/loadConfig.js";
import type { Logger } from "../util/logger.js";
import { Base64Sink } from "./Base64Sink.js";
import { InlineSink } from "./InlineSink.js";
import type { OutputMode, OutputSink } from "./OutputSink.js";
import { StorageConfigError } from "./StorageConfigError.js";

export interface CreateOutputSinkOptions {
    /** Retries of the gcs sink are logged here at warn level. */
    log?: Logger;
}

/** Sinks are reused per config object so uploads share the clients' connection pools. */
const sinkCache = new WeakMap<ServiceConfig, Map<OutputMode, Promise<OutputSink>>>();

/**
 * The sink for an output mode, built from `storage.s3` / `storage.gcs`. Rejects with a StorageConfigError naming the
 * environment variable to set when the mode cannot work (no bucket, half an S3 key pair, unreadable
 * GOOGLE_APPLICATION_CREDENTIALS, GCS_SIGNED_URL_TTL over seven days).
 */
export function createOutputSink(mode: OutputMode, config: ServiceConfig, options: CreateOutputSinkOptions = {}): Promise<OutputSink> {
    let cached = sinkCache.get(config);
    const existing = cached?.get(mode);
    if (existing !== undefined) return existing;
    const sink = buildSink(mode, config, options);
    if (cached === undefined) {
        cached = new Map();
        sinkCache.set(config, cached);
    }
    const modes = cached;
    modes.set(mode, sink);
    sink.catch(() => modes.delete(mode));
    return sink;
}

/**
 * The object-store sinks are imported on first use: their SDKs (@aws-sdk/client-s3, @google-cloud/storage) take
 * ~250 ms and ~30 MB to load, which every start of the service and of every CLI command would otherwise pay.
 */
async function buildSink(mode: OutputMode, config: ServiceConfig, options: CreateOutputSinkOptions): Promise<OutputSink> {
    switch (mode) {
        case "inline":
            return new InlineSink();
        case "base64":
            return new Base64Sink();
        case "s3": {
            const { createS3StorageClient, requireS3Bucket } = await import("./createS3StorageClient.js");
            const { S3Sink } = await import("./S3Sink.js");
            const s3 = config.storage.s3;
            const bucket = requireS3Bucket(s3);
            return new S3Sink({ client: createS3StorageClient(s3), bucket, prefix: s3.prefix });
        }
        case "gcs": {
            const { createGcsStorageClient, gcsPublicBaseUrl, requireGcsBucket } = await import("./createGcsStorageClient.js");
            const { GcsSink, MAX_SIGNED_URL_TTL_SECONDS } = await import("./GcsSink.js");
            const gcs = config.storage.gcs;
            const bucket = requireGcsBucket(gcs);
            if (gcs.signedUrlTtlSeconds > MAX_SIGNED_URL_TTL_SECONDS) {
                throw new StorageConfigError(
                    "GCS_SIGNED_URL_TTL",
                    `GCS_SIGNED_URL_TTL is ${gcs.signedUrlTtlSeconds} s; V4 signed URLs live at most ${MAX_SIGNED_URL_TTL_SECONDS} s (7 days)`
                );
            }
            return new GcsSink({
                storage: createGcsStorageClient(gcs),
                bucket,
                prefix: gcs.prefix,
                retries: gcs.retries,
                retryBaseSleepSeconds: gcs.retryBaseSleepSeconds,
                public: gcs.public,
                signedUrlTtlSeconds: gcs.signedUrlTtlSeconds,
                validate: gcs.validate,
                publicBaseUrl: gcsPublicBaseUrl(gcs),
                onRetry: (error, attempt, delayMs) =>
                    options.log?.warn({ bucket, attempt, delayMs, err: (error as Error).message }, "GCS upload failed; retrying")
            });
        }
    }
}
