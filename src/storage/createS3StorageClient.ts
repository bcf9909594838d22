import { S3Client } from "@aws-sdk/client-s3";
import type { ServiceConfig } from "../config/loadConfig.js";
import { StorageConfigError } from "./StorageConfigError.js";

export type S3StorageSettings = ServiceConfig["storage"]["s3"];

/** What a client needs of `storage.s3` (model downloads pass these without bucket and prefix). */
export type S3ConnectionSettings = Pick<S3StorageSettings, "endpoint" | "region" | "accessKeyId" | "secretAccessKey" | "forcePathStyle">;

/** Attempts per request, the SDK's standard retry mode (429, 5xx, throttling and network errors, with backoff). */
const S3_MAX_ATTEMPTS = 3;

/** Both halves of an explicit key pair, or neither (then the AWS default chain applies). */
function explicitCredentials(settings: S3ConnectionSettings): { accessKeyId: string; secretAccessKey: string } | undefined {
    const id = settings.accessKeyId ?? "";
    const secret = settings.secretAccessKey ?? "";
    if (id === "" && secret === "") return undefined;
    if (id === "") {
        throw new StorageConfigError("S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY is set but S3_ACCESS_KEY_ID is not (also accepted: CLOUDRU_S3_ACCESS_KEY_ID, storage.s3.accessKeyId)");
    }
    if (secret === "") {
        throw new StorageConfigError("S3_SECRET_ACCESS_KEY", "S3_ACCESS_KEY_ID is set but S3_SECRET_ACCESS_KEY is not (also accepted: CLOUDRU_S3_SECRET_ACCESS_KEY, storage.s3.secretAccessKey)");
    }
    return { accessKeyId: id, secretAccessKey: secret };
}

/** The bucket output uploads go to; a clear error naming S3_BUCKET when there is none. */
export function requireS3Bucket(settings: S3StorageSettings): string {
    const bucket = settings.bucket ?? "";
    if (bucket === "") {
        throw new StorageConfigError("S3_BUCKET", "output mode s3 needs a bucket: set S3_BUCKET (or CLOUDRU_S3_BUCKET, or storage.s3.bucket in the config)");
    }
    return bucket;
}

/**
 * An S3 client from `storage.s3` (endpoint, region, path style, keys) for job outputs, batch inputs and model
 * downloads. `maxAttempts` 1 leaves retries to the caller (downloads resume with their own back-off).
 */
export function createS3StorageClient(settings: S3ConnectionSettings, options: { maxAttempts?: number } = {}): S3Client {
    // Node 20 is a supported runtime here; the SDK's "upgrade Node" notice would only clutter command output.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
    return new S3Client({
        region: settings.region,
        endpoint: settings.endpoint !== undefined && settings.endpoint !== "" ? settings.endpoint : undefined,
        forcePathStyle: settings.forcePathStyle,
        credentials: explicitCredentials(settings),
        maxAttempts: options.maxAttempts ?? S3_MAX_ATTEMPTS,
        retryMode: "standard",
        // S3-compatible stores (Cloud.ru, MinIO, older clones) reject or ignore the SDK's newer flexible checksums,
        // and response validation breaks on ranged reads from some of them; uploads carry Content-MD5 instead,
        // which every implementation verifies, and downloads are checked with our own sha256.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED"
    });
}
